"""Pure ASGI middleware shared by every service's HTTP app.

Pure ASGI (not BaseHTTPMiddleware) so that streaming bodies and WebSocket scopes pass through
untouched and the cost per request stays small.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kernel import correlation
from services.kernel.http.problem import internal_error, problem
from services.kernel.telemetry import Telemetry

log = logging.getLogger(__name__)


class BodySizeLimit:
    """Answer 413 to bodies over `limit` bytes, whether announced by Content-Length or streamed.

    The check happens before the app sees the request, so an oversized body never reaches a
    handler. A body without Content-Length is buffered (at most `limit` bytes) and replayed.

    Why not FastAPI's own `max_body_size` (Starlette's RequestBodyLimitMiddleware): it refuses
    when a handler reads the body, or, for a body that announces its size but is not read, only
    once the answer starts (after the handler ran), and in plain text unless an HTTPException
    handler takes it. This refuses before any handler runs, as problem+json `BODY_TOO_LARGE`.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = Headers(scope=scope).get("content-length")
        if announced is not None and announced.isdigit():
            if int(announced) > self.limit:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        body = await self._read_bounded(receive)
        if body is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, replayed(body, receive), send)

    async def _read_bounded(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            size += len(message.get("body", b""))
            if size > self.limit:
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body exceeds {self.limit} bytes"
        response = problem(413, "BODY_TOO_LARGE", detail, limit_bytes=self.limit)
        await response(scope, receive, send)


def replayed(body: bytes, receive: Receive) -> Receive:
    """`receive` giving the body already read first, as one message, then the rest as it
    comes (a disconnect)."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


class CorrelationId:
    """Adopt the caller's X-Correlation-ID (or start one) and echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        correlation.begin(Headers(scope=scope).get(correlation.HEADER))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                current = correlation.current()
                if current:
                    MutableHeaders(scope=message)[correlation.HEADER] = current
            await send(message)

        await self.app(scope, receive, send_with_id)


class RequestMetrics:
    """Count and time every HTTP request by its route template (not its raw path)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, self._counting(scope, receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.telemetry.http_requests.labels(method, route, str(status)).inc()
            self.telemetry.http_latency.labels(method, route).observe(time.perf_counter() - started)

    def _counting(self, scope: Scope, receive: Receive) -> Receive:
        """`receive`, counting the socket's messages by route (known once routed)."""

        async def receive_counted() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                route = getattr(scope.get("route"), "path", "unmatched")
                self.telemetry.websocket_messages.labels(route).inc()
            return message

        return receive_counted


class UnexpectedErrors:
    """An unexpected exception becomes a 500 problem here, inside the app.

    Left to Starlette, the outermost ServerErrorMiddleware answers it and then re-raises, and
    uvicorn closes the connection: a client reusing it right after fails too (the order
    service's pooled connection, sending the compensation for the call that just failed).
    Answered here, the connection stays open like after any other answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            if started:
                raise  # half an answer is out: only closing the connection ends it cleanly
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await internal_error()(scope, receive, send)
