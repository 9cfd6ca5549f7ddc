"""Reads an incoming message (one request or a batch) and maps each request to its method call
and its response (or none, for a notification).

Whatever a method raises goes through the one error map (`errors.error_for`); whatever the
request holds, the dispatcher answers with a response object instead of raising.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol

from opentelemetry.trace import SpanKind

from services.kernel import correlation, tracing
from services.kernel.jsonrpc import messages
from services.kernel.jsonrpc.errors import METHOD_NOT_FOUND, RpcError, error_for
from services.kernel.jsonrpc.messages import Batch, Limits, Request
from services.kernel.jsonrpc.params import Params


class Peer(Protocol):
    """What a method may do with the connection it was called on."""

    @property
    def correlation_id(self) -> str | None:
        """The X-Correlation-ID of the WebSocket handshake, if the client sent one."""

    async def notify(self, method: str, params: object) -> None: ...

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` in a task owned by the connection: cancelled when the socket closes."""


Method = Callable[[Params, Peer], Awaitable[object]]

# A no-op every JSON-RPC endpoint answers, for measuring the transport alone (the load
# harness's calibration). The spec reserves the `rpc.` prefix for such extensions.
PING = "rpc.ping"


async def _ping(params: Params, peer: Peer) -> object:
    return {}


class Dispatcher:
    def __init__(self, methods: Mapping[str, Method], limits: Limits) -> None:
        self._methods: Mapping[str, Method] = {**methods, PING: _ping}
        self._limits = limits

    def read(self, raw: str | bytes) -> Request | Batch:
        """The request(s) a message holds; raises BadMessage when it is answered by one error."""
        return messages.parse(raw, self._limits)

    async def answer(self, request: Request, peer: Peer) -> dict[str, Any] | None:
        """The response to one request, or None for a notification."""
        try:
            value = await self._call(request, peer)
        except Exception as exc:
            error = error_for(exc)
            return None if request.is_notification else messages.failure(request.id, error)
        return None if request.is_notification else messages.result(request.id, value)

    async def _call(self, request: Request, peer: Peer) -> object:
        method = self._methods.get(request.method)
        if method is None:
            data = {"code": "METHOD_NOT_FOUND", "method": request.method}
            raise RpcError(METHOD_NOT_FOUND, f"no method named {request.method!r}", data)
        params, meta = Params.of(request.params)
        # Each request runs in a task of its own, so this binds the id to this request only.
        correlation.begin(meta.correlation_id or peer.correlation_id)
        # Without a `traceparent` of its own, the request is part of the socket's span (whose
        # parent is the upgrade request's `traceparent`).
        parent = tracing.parent(meta.traceparent, meta.tracestate)
        with tracing.span(f"jsonrpc {request.method}", SpanKind.SERVER, parent_context=parent):
            return await method(params, peer)
