"""A JSON-RPC client over one persistent WebSocket: concurrent calls multiplexed by request id.

It connects on the first call, not at start-up: services start in waves and the one called may
not be up yet. When the connection drops, the calls waiting on it fail as DownstreamUnavailable
(the other side may or may not have acted on them) and the next call reconnects. After a failed
attempt the next one waits (0.1 s, doubling up to 1 s): calls meanwhile wait for it and share it
when it is due before their deadline, and fail at once when it is not. Every call has a deadline,
sends the correlation id and the W3C trace context in `params._meta`, and is counted in
telemetry as `ws.<method>`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any, Final, TypeVar, overload

from opentelemetry.trace import SpanKind
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.protocol import State

from services.kernel import correlation, tracing
from services.kernel.errors import DownstreamUnavailable
from services.kernel.jsonrpc import messages
from services.kernel.jsonrpc.errors import SERVER_FAILURES
from services.kernel.jsonrpc.messages import Answer
from services.kernel.jsonrpc.params import META
from services.kernel.telemetry import Telemetry

log = logging.getLogger(__name__)

OPERATION_PREFIX: Final = "ws."
# What reading a result of the wrong shape raises: a member missing (KeyError), of the wrong
# type (TypeError), or a value no enum names (ValueError).
UNREADABLE: Final = (KeyError, TypeError, ValueError)
BACKOFF_FIRST_S: Final = 0.1
BACKOFF_MAX_S: Final = 1.0
CLOSE_TIMEOUT_S: Final = 1.0


T = TypeVar("T")


def _as_is(result: Any) -> Any:
    return result


class _Unreachable(Exception):
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class _ServerLeaving(_Unreachable):
    """The server closed the socket because it was stopping (1001 going away, 1012 restart)."""


class _CannotConnect(_Unreachable):
    """No connection could be opened (the server is not listening, or not yet)."""


# What a stopping server sends: uvicorn closes every WebSocket with 1012 when it shuts down.
SERVER_LEAVING: Final = frozenset({1001, 1012})


class _Link:
    """One open socket and the calls waiting for their answer on it."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.pending: dict[int, asyncio.Future[Answer]] = {}
        self.reader = asyncio.create_task(self._read(), name="jsonrpc-reader")

    @property
    def is_open(self) -> bool:
        return self.socket.state is State.OPEN and not self.reader.done()

    async def close(self) -> None:
        await self.socket.close()
        await self.reader

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                self._deliver(messages.parse_answer(raw))
        except ConnectionClosed:
            pass
        except (ValueError, RecursionError) as error:  # the stream can no longer be trusted
            # RecursionError: valid JSON nested deeper than the parser recurses
            log.warning("unparseable answer from %s: %s", self.socket.remote_address, error)
            self._fail_all("unparseable answer")
            await self.socket.close(1002, "unparseable answer")
        finally:
            close = self.socket.protocol.close_rcvd
            if close is not None and close.code in SERVER_LEAVING:
                self._fail_all("the server stopped before answering", leaving=True)
            self._fail_all("connection lost before the answer")

    def _deliver(self, answer: Answer | None) -> None:
        if answer is None:  # a notification: nothing this client asked for
            return
        future = self.pending.pop(answer.id, None) if type(answer.id) is int else None
        if future is not None and not future.done():
            future.set_result(answer)
        elif answer.id is None and answer.error is not None:
            log.warning("the server could not read a request: %s", answer.error.message)
        # else: the late answer of a call that timed out; nobody waits for it any more

    def _fail_all(self, cause: str, *, leaving: bool = False) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(_ServerLeaving(cause) if leaving else _Unreachable(cause))
        self.pending.clear()


class RpcClient:
    """Calls one service. Create it inside the running event loop."""

    def __init__(self, service: str, url: str, timeout_s: float, telemetry: Telemetry) -> None:
        self.service = service
        self._url = url
        self._timeout_s = timeout_s
        self._telemetry = telemetry
        self._ids = itertools.count(1)
        self._link: _Link | None = None
        self._attempt: asyncio.Task[_Link] | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._closed = False

    @overload
    async def call(self, method: str, params: dict[str, Any]) -> Any: ...

    @overload
    async def call(self, method: str, params: dict[str, Any], read: Callable[[Any], T]) -> T: ...

    async def call(
        self, method: str, params: dict[str, Any], read: Callable[[Any], Any] = _as_is
    ) -> Any:
        """What `read` makes of the method's result. Raises RpcError when the server refused
        the call, and DownstreamUnavailable when the outcome is unknown (timeout, connection,
        server error, or a result `read` cannot take: counted `unreadable`, not `ok`)."""
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                with tracing.span(f"jsonrpc {method}", SpanKind.CLIENT):
                    answer = await self._exchange(method, params, deadline)
        except TimeoutError:
            self._count(method, "timeout")
            cause = f"no answer within {self._timeout_s}s"
            raise DownstreamUnavailable(self.service, method, cause) from None
        except _Unreachable as error:
            self._count(method, "unreachable")
            raise DownstreamUnavailable(self.service, method, error.cause) from None
        return self._outcome(method, answer, read)

    async def aclose(self) -> None:
        self._closed = True
        if self._attempt is not None:
            self._attempt.cancel()
            await asyncio.gather(self._attempt, return_exceptions=True)
        if self._link is not None:
            await self._link.close()

    def _outcome(self, method: str, answer: Answer, read: Callable[[Any], Any]) -> Any:
        error = answer.error
        if error is None:
            try:
                value = read(answer.result)
            except UNREADABLE as unreadable:
                self._count(method, "unreadable")
                cause = f"unparseable result: {unreadable!r}"[:200]
                raise DownstreamUnavailable(self.service, method, cause) from None
            self._count(method, "ok")
            return value
        if error.code in SERVER_FAILURES:
            self._count(method, "server_error")
            cause = f"JSON-RPC error {error.code} {error.reason}".strip()
            raise DownstreamUnavailable(self.service, method, cause)
        self._count(method, "refused")
        raise error

    async def _exchange(self, method: str, params: dict[str, Any], deadline: float) -> Answer:
        try:
            return await self._exchange_once(method, params, deadline)
        except _ServerLeaving:
            # A stopping REST or gRPC server lets the calls in flight finish; uvicorn closes its
            # WebSockets at once instead. Every call here is idempotent (keyed by the order id),
            # so send it again, to the server's next process, until the call's own deadline.
            while True:
                try:
                    return await self._exchange_once(method, params, deadline)
                except (_ServerLeaving, _CannotConnect):
                    continue  # `_connected` waits out the back-off, or gives up at the deadline

    async def _exchange_once(self, method: str, params: dict[str, Any], deadline: float) -> Answer:
        link = await self._connected(deadline)
        request_id = next(self._ids)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        link.pending[request_id] = future
        try:
            message = messages.request(request_id, method, with_correlation(params))
            await link.socket.send(messages.encode(message))
            return await future
        except ConnectionClosed:
            raise _Unreachable("connection lost while sending") from None
        finally:
            link.pending.pop(request_id, None)

    async def _connected(self, deadline: float) -> _Link:
        """The open link; one connection attempt at a time, shared by every caller waiting."""
        while self._attempt is None:
            if self._link is not None and self._link.is_open:
                return self._link
            if self._closed:
                raise _Unreachable("client closed")
            now = asyncio.get_running_loop().time()
            if self._retry_at >= deadline:
                cause = f"not connected; next attempt in {self._retry_at - now:.2f}s"
                raise _Unreachable(f"{cause} ({self._failures} failed)")
            if self._retry_at > now:
                await asyncio.sleep(self._retry_at - now)
                continue  # another caller may have connected meanwhile
            self._attempt = asyncio.create_task(
                self._open(), name=f"jsonrpc-connect-{self.service}"
            )
            self._attempt.add_done_callback(self._attempt_done)
        return await asyncio.shield(self._attempt)

    async def _open(self) -> _Link:
        try:
            socket = await connect(
                self._url,
                open_timeout=self._timeout_s,
                close_timeout=CLOSE_TIMEOUT_S,
                proxy=None,  # calls between services never go through a proxy
                compression=None,  # small messages: deflate would cost CPU on the hot path
            )
        except (OSError, TimeoutError, WebSocketException) as error:
            self._failures += 1
            backoff_s = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._failures - 1))
            self._retry_at = asyncio.get_running_loop().time() + backoff_s
            raise _CannotConnect(f"cannot connect to {self._url}: {error!r}") from None
        if self._failures:
            log.info("reconnected to %s after %d failed attempt(s)", self._url, self._failures)
        self._failures = 0
        self._link = _Link(socket)
        return self._link

    def _attempt_done(self, attempt: asyncio.Task[_Link]) -> None:
        if self._attempt is attempt:
            self._attempt = None
        if not attempt.cancelled():
            attempt.exception()  # retrieved here: every caller waiting may have timed out

    def _count(self, method: str, outcome: str) -> None:
        operation = OPERATION_PREFIX + method
        self._telemetry.downstream_calls.labels(self.service, operation, outcome).inc()


def with_correlation(params: dict[str, Any]) -> dict[str, Any]:
    """`params` plus the current correlation id and trace context in the reserved `_meta`."""
    meta: dict[str, str] = tracing.carrier()
    if current := correlation.current():
        meta["correlation_id"] = current
    return {**params, META: meta} if meta else params
