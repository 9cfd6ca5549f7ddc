"""The `/graphql` endpoint of a service: queries and mutations over HTTP POST, subscriptions over
graphql-transport-ws, with protocol-level mistakes answered as GraphQL errors.

HTTP requests pass the app's middleware like REST ones (body size limit, correlation id,
metrics); a WebSocket handshake adopts its X-Correlation-ID header there too, and a browser,
which cannot set headers on a handshake, may send `{"correlationId": ...}` in connection_init.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import timedelta
from typing import Any, Final

from cross_web import HTTPException
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from graphql import GraphQLError
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.fastapi import GraphQLRouter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ErrorMessage
from strawberry.types.unset import UNSET, UnsetType

from services.kernel import correlation
from services.kernel.graphql.prepared import execute_prepared, prepared_operation
from services.kernel.graphql.schema import Schema
from services.kernel.http.middleware import replayed

PATH: Final = "/graphql"
# As the HTTP body limit's default (and JSON-RPC's): the server's own cap on a WebSocket message
# is higher, so that an adapter can refuse in its protocol's terms.
MAX_MESSAGE_BYTES: Final = 64 * 1024
# A client that opens a socket and says nothing is let go after this long.
INIT_TIMEOUT: Final = timedelta(seconds=10)
# Operations in flight on one socket (subscriptions, queries and mutations alike): one more is
# answered with an `error` message, TOO_MANY_OPERATIONS, and the socket serves on. Each is a task
# (a placeOrder, a saga's worth of work), and one socket's messages cost the client nothing.
MAX_OPERATIONS: Final = 100


def create_graphql_router(
    schema: Schema,
    context_getter: Callable[[HTTPConnection], Awaitable[Any]],
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> APIRouter:
    return _Router(
        schema,
        max_message_bytes=max_message_bytes,
        path=PATH,
        context_getter=context_getter,
        graphql_ide="graphiql",
        # One way in for operations: POST bodies, which the body size limit bounds.
        allow_queries_via_get=False,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=INIT_TIMEOUT,
        max_subscriptions_per_connection=MAX_OPERATIONS,
        tags=["graphql"],
    )


class _TransportWS(BaseGraphQLTransportWSHandler[Any, Any]):
    async def handle_message(self, message: Any) -> None:
        # strawberry expects well-shaped messages; an id or payload of the wrong type would
        # crash the connection's handler instead of closing it with 4400 as the protocol asks.
        if not _well_formed(message):
            await self.handle_invalid_message("Failed to parse message")
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:
        # strawberry refuses an operation beyond MAX_OPERATIONS itself, with an error that has
        # no `extensions.code` (its refusal is sent past the schema's extensions); this one has.
        full = len(self.operations) >= MAX_OPERATIONS
        if self.connection_acknowledged and full and message["id"] not in self.operations:
            error = GraphQLError(
                f"at most {MAX_OPERATIONS} operations may run at once on a socket",
                extensions={"code": "TOO_MANY_OPERATIONS", "limit": MAX_OPERATIONS},
            )
            refused = ErrorMessage(id=message["id"], type="error", payload=[error.formatted])
            await self.send_message(refused)
            return
        await super().handle_subscribe(message)


def _well_formed(message: dict[str, Any]) -> bool:
    kind = message.get("type")
    if kind not in ("subscribe", "complete"):
        return True
    if not isinstance(message.get("id"), str):
        return False
    payload = message.get("payload")
    return kind == "complete" or (
        isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables", None), dict | None)
        and isinstance(payload.get("operationName", None), str | None)
    )


def _plain_json(content_type: str) -> bool:
    # Only the plain case: any other type, however close, gets strawberry's own judgement.
    return content_type.partition(";")[0].strip() == "application/json"


def _streaming(accept: str) -> bool:
    # Wider than strawberry's stream transports (multipart/mixed, text/event-stream), so that
    # every request one of them could take goes strawberry's way.
    accept = accept.lower()
    return "multipart/" in accept or "event-stream" in accept


class _NotAnObject(json.JSONDecodeError):
    """Valid JSON, but not a GraphQL request: the WebSocket transport closes with 4400 on it."""


class _BoundedSocket(ASGIWebSocketAdapter):
    """strawberry's reading of WebSocket messages, with a size limit: a larger message closes
    the connection with 1009 (message too big) before it is parsed."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        assert isinstance(self.view, _Router)
        limit = self.view.max_message_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text.encode()) > limit:
                    await self.close(1009, f"a message may have at most {limit} bytes")
                    return
                try:
                    yield self.view.decode_json(text)
                # ValueError: a number of over 4,300 digits; RecursionError: nesting too deep.
                except (ValueError, RecursionError) as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except KeyError as error:  # a binary message
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass


class _PreparedFirst:
    """POST /graphql as a plain ASGI app: a JSON request for a prepared operation
    (prepared.py) is executed here, without FastAPI's dependency solving or strawberry's
    view; anything else goes on, body and all, to strawberry's own route."""

    def __init__(
        self,
        schema: Schema,
        context_getter: Callable[[HTTPConnection], Awaitable[Any]],
        encode_json: Callable[[object], str | bytes],
        strawberry_route: APIRoute,
    ) -> None:
        self.schema = schema
        self.context_getter = context_getter
        self.encode_json = encode_json
        self.strawberry_route = strawberry_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # FastAPI names the route only for its own routes: the metrics count by this name.
        scope["route"] = self.strawberry_route
        request = Request(scope, receive)
        body = await request.body()
        operation = None
        headers = request.headers
        if _plain_json(headers.get("content-type", "")) and not _streaming(
            headers.get("accept", "")
        ):
            operation = prepared_operation(self.schema.documents, body)
        if operation is None:
            await self.strawberry_route.app(scope, replayed(body, receive), send)
            return
        context = await self.context_getter(request)
        context.request = request  # as strawberry's FastAPI integration sets it
        answer = await execute_prepared(self.schema, operation, context)
        await Response(self.encode_json(answer), media_type="application/json")(
            scope, receive, send
        )


class _Router(GraphQLRouter[Any, None]):
    graphql_transport_ws_handler_class = _TransportWS
    websocket_adapter_class = _BoundedSocket

    def __init__(
        self,
        schema: Schema,
        *,
        path: str,
        context_getter: Callable[[HTTPConnection], Awaitable[Any]],
        max_message_bytes: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(schema, path=path, context_getter=context_getter, **kwargs)
        self.max_message_bytes = max_message_bytes
        # In front of strawberry's POST route, ahead of it in the list: see _PreparedFirst.
        strawberry_post = next(
            route
            for route in self.routes
            if isinstance(route, APIRoute) and route.methods == {"POST"}
        )
        first = _PreparedFirst(schema, context_getter, self.encode_json, strawberry_post)
        self.routes.insert(0, Route(path, first, methods=["POST"], include_in_schema=False))

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await super().run(request, context, root_value)
        except HTTPException as error:
            if self.is_websocket_request(request):
                raise
            # strawberry answers these in plain text; a GraphQL client expects `errors`.
            body = {"errors": [{"message": error.reason, "extensions": {"code": "BAD_REQUEST"}}]}
            return JSONResponse(body, status_code=error.status_code)

    def decode_json(self, data: str | bytes) -> object:
        decoded = json.loads(data)
        if not isinstance(decoded, dict):
            # Batches are not enabled, and a WebSocket message is always an object.
            raise _NotAnObject("expected a JSON object", "", 0)
        return decoded

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return self.decode_json(data)
        except _NotAnObject:
            raise HTTPException(400, "the request body must be a JSON object") from None
        except json.JSONDecodeError as error:
            raise HTTPException(400, f"the request body is not JSON: {error.msg}") from None
        except (ValueError, RecursionError) as error:  # invalid UTF-8, 5000 digits, too deep
            raise HTTPException(400, f"the request body is not JSON: {error}") from None

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        params = getattr(context, "connection_params", None)
        supplied = params.get("correlationId") if isinstance(params, dict) else None
        if isinstance(supplied, str):
            # This runs in the connection's task, so every operation on it inherits the id.
            correlation.begin(supplied)
        return UnsetType()  # the plain connection_ack
