"""Builds a service's `grpc.aio` server: its own services plus what every server has.

Common parts: the edge interceptor (correlation ids, error map, INVALID_ARGUMENT for a message
that does not decode), a receive limit so an oversized message is refused (RESOURCE_EXHAUSTED)
before any handler sees it, gRPC health checking (SERVING for each service and for "") and server
reflection, v1 and v1alpha (so grpcurl needs no .proto files).

Bounded cost per connection: gRPC's core lets a client open any number of streams on one
HTTP/2 connection (its default is 2^32 - 1), and each open stream (a WatchOrder, a health Watch)
holds a task here. The server advertises `max_concurrent_streams` (HTTP/2's
SETTINGS_MAX_CONCURRENT_STREAMS) instead: a client's calls beyond it wait in the client until one
ends. Back-pressure, not refusal, as for a JSON-RPC socket's requests in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.kernel import tracing
from services.kernel.config import bracketed
from services.kernel.grpc.counting import CallCounter
from services.kernel.grpc.interceptor import EdgeInterceptor
from services.kernel.grpc.reflection import serve_reflection
from services.kernel.telemetry import Telemetry

# Well above the calls one client of ours keeps open at once (a Locust process's users, whose
# channels gRPC may carry on one shared connection; the order service's sagas), and far below
# the default's "no limit".
MAX_CONCURRENT_STREAMS: Final = 1000
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


@dataclass(frozen=True)
class Service:
    """One gRPC service to serve: its full name and how to add its servicer to a server."""

    name: str
    register: Callable[[grpc.aio.Server], None]


class GrpcServer:
    """A `grpc.aio` server with its health service: SERVING once it starts, NOT_SERVING as it
    begins to stop (so a load balancer or a prober stops sending before connections close)."""

    def __init__(self, server: grpc.aio.Server, health: Any, names: Sequence[str]) -> None:
        self.server = server
        self._health = health
        self._names = names

    async def start(self) -> None:
        for name in ("", *self._names):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        await self.server.start()

    async def stop(self, grace: float | None) -> None:
        await self._health.enter_graceful_shutdown()
        await self.server.stop(grace)


def create_server(
    services: Sequence[Service],
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    telemetry: Telemetry | None = None,
    max_concurrent_streams: int = MAX_CONCURRENT_STREAMS,
) -> tuple[GrpcServer, int]:
    """The server, and the port it bound (`port` 0 picks a free one, as tests do); with
    `telemetry`, its calls are counted (orderflow_grpc_requests_total)."""
    counting = [CallCounter(telemetry)] if telemetry is not None else []
    server = grpc.aio.server(
        interceptors=[*counting, *_tracing(), EdgeInterceptor()],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_concurrent_streams", max_concurrent_streams),
        ],
    )
    names = [service.name for service in services]
    for service in services:
        service.register(server)
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    serve_reflection([*names, HEALTH_SERVICE], server)
    bound = server.add_insecure_port(f"{bracketed(host)}:{port}")
    return GrpcServer(server, checker, names), bound


def _tracing() -> list[grpc.aio.ServerInterceptor]:
    """A server span per call of ours (its parent from the `traceparent` metadata), outside the
    edge interceptor so the handler runs in it; health and reflection are left out."""
    if not tracing.enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    only_ours = filters.service_prefix("orderflow.")
    return [aio_server_interceptor(filter_=only_ours)]  # type: ignore[no-untyped-call]
