"""The context every resolver gets: the service's use cases, taken from the app state that its
composition root set (so nothing is built at import time), through strawberry's context_getter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

H = TypeVar("H")
C = TypeVar("C", bound="GraphQLContext[Any]")


class GraphQLContext(BaseContext, Generic[H]):
    """One per HTTP request, or one per WebSocket connection (`long_lived`): a subscription's
    connection may last minutes, so nothing cached in it may go stale."""

    def __init__(self, handlers: H, long_lived: bool) -> None:
        super().__init__()
        self.handlers = handlers
        self.long_lived = long_lived


def context_getter(
    kind: type[H], build: Callable[[H, bool], C]
) -> Callable[[HTTPConnection], Awaitable[C]]:
    """A FastAPI dependency building the context from `app.state.handlers` (like the REST
    adapters' `handlers_of`)."""

    async def get_context(connection: HTTPConnection) -> C:
        handlers = connection.app.state.handlers
        if not isinstance(handlers, kind):
            raise TypeError(f"app.state.handlers is {type(handlers).__name__}, not {kind.__name__}")
        return build(handlers, connection.scope["type"] == "websocket")

    return get_context
