"""One service's resilience patterns at one moment, read from its Prometheus `/metrics`.

Counters are kept as the service reports them (totals since it started, summed over their
labels): the report draws their increase per second, and a restarted service starts again
from 0. Gauges are the value at the moment read. A family the service does not have (the
breaker of a service that calls nobody) is left out, not read as 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

# results.json's name for each counter: services/kernel/resilience/guard.py, kernel/faults.py.
COUNTERS: Final = {
    "orderflow_retries": "retries",
    "orderflow_bulkhead_rejections": "bulkhead_rejections",
    "orderflow_faults_injected": "faults_injected",
}
# And for each gauge: kernel/broker/wiring.py and link.py, order/notifications.py.
GAUGES: Final = {
    "orderflow_outbox_backlog": "outbox_backlog",
    "orderflow_broker_queue_depth": "queue_depth",
    "orderflow_notifications_owed": "notifications_owed",
    "orderflow_broker_connected": "broker_connected",
}
# The requests a service received, by what carried them (HTTP requests and WebSocket messages:
# kernel/http/middleware.py; gRPC calls: kernel/grpc/counting.py; deliveries:
# kernel/broker/consumer.py): read per replica, the spread a balancer made. Probes and scrapes
# (the proxy checks /health every second) are not the load.
REQUESTS: Final = {
    "orderflow_http_requests": "http",
    "orderflow_grpc_requests": "grpc",
    "orderflow_websocket_messages": "websocket",
    "orderflow_broker_consumed": "broker",
}
NOT_LOAD: Final = frozenset({"/health", "/ready", "/metrics"})
BREAKER: Final = "orderflow_breaker_state"  # per downstream: 0 closed, 1 half-open, 2 open
MAX_BYTES: Final = 1_000_000  # a service's /metrics is a few kB; more is not a service of ours


def read(client: httpx.Client, url: str, timeout_s: float) -> dict[str, Any] | None:
    """The service's patterns now, or None if its /metrics did not answer in time."""
    try:
        reply = client.get(f"{url}/metrics", timeout=timeout_s)
        reply.raise_for_status()
    except httpx.HTTPError:
        return None
    if len(reply.content) > MAX_BYTES:
        return None
    try:
        return patterns(text_string_to_metric_families(reply.text))
    except ValueError:  # not the Prometheus text format: nothing to read from it
        return None


def patterns(families: Iterable[Metric]) -> dict[str, Any]:
    """The readings results.json keeps, from parsed metric families."""
    found: dict[str, Any] = {}
    for family in families:
        if family.name in COUNTERS:
            totals = [s.value for s in family.samples if s.name == f"{family.name}_total"]
            found[COUNTERS[family.name]] = int(sum(totals))
        elif family.name in GAUGES:
            found[GAUGES[family.name]] = int(sum(s.value for s in family.samples))
        elif family.name == BREAKER:
            found["breakers"] = {s.labels.get("target", "?"): int(s.value) for s in family.samples}
        elif family.name in REQUESTS:
            found.setdefault("requests", {})[REQUESTS[family.name]] = _requests(family)
    return found


def _requests(family: Metric) -> int:
    return int(
        sum(
            s.value
            for s in family.samples
            if s.name == f"{family.name}_total" and s.labels.get("route") not in NOT_LOAD
        )
    )
