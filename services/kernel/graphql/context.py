"""The context every resolver gets: the service's use cases, through strawberry's context_getter,
which takes them from the same FastAPI dependency as every adapter on the HTTP port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from services.kernel.http.app import handlers_of

H = TypeVar("H")
C = TypeVar("C", bound="GraphQLContext[Any]")


class GraphQLContext(BaseContext, Generic[H]):
    """One per HTTP request, or one per WebSocket connection (`long_lived`): a subscription's
    connection may last minutes, so nothing cached in it may go stale."""

    def __init__(self, handlers: H, long_lived: bool) -> None:
        super().__init__()
        self.handlers = handlers
        self.long_lived = long_lived


def context_getter(kind: type[H], build: Callable[[H, bool], C]) -> Callable[..., Awaitable[C]]:
    """A FastAPI dependency building the context from the use cases that `handlers_of` gives.

    It awaits `handlers_of`'s dependency itself rather than declaring it as a sub-dependency:
    the same use cases, without FastAPI solving a second dependency on every operation."""

    handlers_for = handlers_of(kind)

    async def get_context(connection: HTTPConnection) -> C:
        return build(await handlers_for(connection), connection.scope["type"] == "websocket")

    return get_context
