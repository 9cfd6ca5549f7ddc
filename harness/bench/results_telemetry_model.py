"""The section of results.json that holds a style's pattern telemetry over time: each service
read once a second while the load ran (harness/telemetry/sampler.py). results_model.py holds
the rest of the document."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from harness.bench.results_base import Count, Section

NonNegative = Annotated[float, Field(ge=0)]
BreakerState = Literal[0, 1, 2]


class ServiceReading(Section):
    """One service at one second. The pattern fields come from its /metrics and are absent
    when it did not answer or has no such metric (a service that calls nobody has no breaker);
    the counters are totals since the service started (a restart starts them again at 0)."""

    answered: bool
    """Whether its /metrics answered within half a second (a crashed or paused service did
    not)."""
    cpu_cores: NonNegative | None = None
    """CPU it used since the previous reading, in cores (1 = one core busy); null at the first
    reading, after a restart and when the process is gone; absent when the harness did not
    start the stack (its processes are not known)."""
    rss_mb: NonNegative | None = None
    """Resident memory in MiB; null when the process is gone, absent as cpu_cores."""
    breakers: dict[str, BreakerState] | None = None
    """Each downstream service's circuit breaker: 0 closed, 1 half-open, 2 open."""
    retries: Count | None = None
    """Calls retried after an unknown outcome, in total."""
    bulkhead_rejections: Count | None = None
    """Calls refused because every bulkhead slot was taken, in total."""
    faults_injected: Count | None = None
    """Faults the service applied on the control endpoint's orders, in total."""
    outbox_backlog: Count | None = None
    """Events written to its outbox and not yet confirmed by the broker."""
    queue_depth: Count | None = None
    """Messages ready in its broker queue, as the broker last told the service."""
    notifications_owed: Count | None = None
    """Finished orders whose customer is not told yet (the order service)."""
    broker_connected: Count | None = None
    """1 while its AMQP link is up."""
    requests: dict[Literal["http", "grpc", "websocket", "broker"], Count] | None = None
    """Requests it received in total, by what carried them: HTTP requests (REST, GraphQL, SSE;
    not its probes and scrapes), gRPC calls, WebSocket messages (JSON-RPC requests or batches,
    GraphQL subscription frames), broker deliveries handled. Read per replica, the
    spread the proxy, the gRPC client or the competing consumers made."""


class TelemetryPoint(Section):
    """Every service at one moment."""

    t: float
    """Seconds from the start of the load (negative: read just before it)."""
    services: dict[str, ServiceReading]
    replicas: dict[str, dict[str, ServiceReading]] | None = None
    """With several replicas per service (`--replicas N`): each replica read at its own
    address, by service then replica name (`order-1`); `services` then reads each through the
    proxy, from whichever replica answers."""


class Telemetry(Section):
    """The stack's services read once a second from the load's start until it stopped (a
    scenario: until the audit had let the orders in flight settle)."""

    interval_s: Annotated[float, Field(gt=0)]
    """Seconds between readings, as planned."""
    started_at: float
    """The load's start, epoch seconds: t = 0 (to place a trace's spans on the series)."""
    series: list[TelemetryPoint]
