"""The client side of a gRPC call to another service: deadline, correlation id, metrics, errors.

A status that says the other side refused the request (INVALID_ARGUMENT, NOT_FOUND,
FAILED_PRECONDITION, ...) is raised as `CallRefused` for the caller to interpret; any other
failure (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ...) leaves the outcome unknown and becomes
`DownstreamUnavailable`, the one failure the saga knows how to compensate.

Calls are counted in `orderflow_downstream_calls` with the operation labelled `grpc.<operation>`,
so the metrics show which style carried them. The caller's `read` takes the answer apart before
it is counted: a refusal it raises is counted `refused`, an answer it cannot take (no outcome, a
status its protos do not name: ValueError) `unreadable`, and is DownstreamUnavailable.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Final, TypeVar

import grpc
from google.protobuf.message import Message

from services.kernel import correlation, tracing
from services.kernel.config import ServiceAddress, bracketed
from services.kernel.errors import DownstreamUnavailable
from services.kernel.grpc.errors import CODE_KEY, CORRELATION_KEY
from services.kernel.telemetry import Telemetry

OPERATION_PREFIX: Final = "grpc."
REFUSALS: Final = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)
# gRPC backs off up to 120 s between reconnection attempts by default: a service that comes back
# after an outage would be reported unreachable long after it is up. Retry at least every second.
CHANNEL_OPTIONS: Final = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)
# A target naming several servers (ORDERFLOW_<SERVICE>_GRPC_TARGET): a channel keeps one
# connection to each and spreads the calls round robin, instead of pick_first's one connection.
BALANCED_OPTIONS: Final = (*CHANNEL_OPTIONS, ("grpc.lb_policy_name", "round_robin"))
_OUTCOMES: Final = {
    grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
    grpc.StatusCode.UNAVAILABLE: "unreachable",
}

Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)
T = TypeVar("T")


class CallRefused(Exception):
    """The other service answered with a status that refuses the request."""

    def __init__(self, service: str, operation: str, error: grpc.aio.AioRpcError) -> None:
        super().__init__(error.details() or error.code().name)
        self.service = service
        self.operation = operation
        self.code = error.code()
        self.details = error.details() or ""
        self.error_code = dict(error.trailing_metadata() or ()).get(CODE_KEY, "")

    def unknown_outcome(self) -> DownstreamUnavailable:
        """A refusal this caller does not understand: treat the outcome as unknown."""
        cause = f"{self.code.name} {self.error_code}".strip()
        return DownstreamUnavailable(self.service, self.operation, cause)


class GrpcCaller:
    """Calls one service over one channel. Create it inside the running event loop."""

    def __init__(
        self, service: str, channel: grpc.aio.Channel, timeout_s: float, telemetry: Telemetry
    ) -> None:
        self.service = service
        self.channel = channel
        self._timeout_s = timeout_s
        self._telemetry = telemetry

    async def call(
        self,
        operation: str,
        method: grpc.aio.UnaryUnaryMultiCallable[Request, Response],
        request: Request,
        read: Callable[[Response], T],
    ) -> T:
        """What `read` makes of the answer; a refusal carried in it (e.g. out of stock) is an
        exception `read` raises."""
        current = correlation.current()
        # Metadata is ASCII; an id that came in some other way (a REST header) may not be.
        sendable = current and current.isascii() and current.isprintable()
        metadata = ((CORRELATION_KEY, current),) if current and sendable else ()
        try:
            response = await method(request, timeout=self._timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            raise self._failed(operation, error) from None
        try:
            value = read(response)
        except ValueError as error:
            self._count(operation, "unreadable")
            cause = f"unreadable answer: {error}"
            raise DownstreamUnavailable(self.service, operation, cause) from None
        except Exception:
            self._count(operation, "refused")
            raise
        self._count(operation, "ok")
        return value

    def _failed(self, operation: str, error: grpc.aio.AioRpcError) -> Exception:
        code = error.code()
        if code in REFUSALS:
            self._count(operation, "refused")
            return CallRefused(self.service, operation, error)
        self._count(operation, _OUTCOMES.get(code, "server_error"))
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            cause = f"no answer within {self._timeout_s}s"
        else:
            cause = f"{code.name} {error.details() or ''}".strip()
        return DownstreamUnavailable(self.service, operation, cause)

    def _count(self, operation: str, outcome: str) -> None:
        label = OPERATION_PREFIX + operation
        self._telemetry.downstream_calls.labels(self.service, label, outcome).inc()


def open_caller(
    address: ServiceAddress, timeout_s: float, telemetry: Telemetry, resources: AsyncExitStack
) -> GrpcCaller:
    """One channel to the service's gRPC port (or to every replica its target names), reused
    by every call and closed with `resources`."""
    target, options = channel_target(address)
    channel = grpc.aio.insecure_channel(target, options=options, interceptors=_tracing())
    resources.push_async_callback(channel.close)
    return GrpcCaller(address.name, channel, timeout_s, telemetry)


def channel_target(address: ServiceAddress) -> tuple[str, tuple[tuple[str, object], ...]]:
    """The target and channel options for calls to `address`'s service."""
    if address.grpc_target is not None:
        return address.grpc_target, BALANCED_OPTIONS
    return f"{bracketed(address.host)}:{address.grpc_port}", CHANNEL_OPTIONS


def _tracing() -> list[grpc.aio.ClientInterceptor]:
    """A client span per call, its `traceparent` in the call's metadata (when tracing is on)."""
    if not tracing.enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())  # type: ignore[no-untyped-call]
