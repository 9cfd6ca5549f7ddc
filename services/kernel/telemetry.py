"""Prometheus metrics and logging set-up.

Each service builds its own registry (not the process-global one) so that several apps can live in
one test process without their metrics colliding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.kernel import correlation, tracing

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Telemetry:
    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.http_requests = Counter(
            "orderflow_http_requests",
            "HTTP requests served, by route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "orderflow_http_request_seconds",
            "Time to serve an HTTP request.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Each message a client sends on a WebSocket (a JSON-RPC request or batch, a GraphQL
        # subscription's frame): the socket itself is one HTTP request, its load is these.
        self.websocket_messages = Counter(
            "orderflow_websocket_messages",
            "WebSocket messages received, by route.",
            ["route"],
            registry=self.registry,
        )
        self.downstream_calls = Counter(
            "orderflow_downstream_calls",
            "Calls to other services, by target, operation and outcome.",
            ["target", "operation", "outcome"],
            registry=self.registry,
        )

    def counter(self, name: str, documentation: str, labels: list[str]) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: list[str]) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)


class _CorrelationFilter(logging.Filter):
    """Stamps each record with the ids that tie one order's lines together across services.

    Services log one INFO line per order, at its end (and one per exceptional event); the steps
    on the way are at DEBUG. With tracing on, the W3C trace id stands next to the correlation id
    on that line (`[<correlation id> trace=<trace id>]`): what to search for in a trace UI."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation.current() or "-"
        found = tracing.trace_id()
        record.trace_id = f" trace={found}" if found else ""
        return True


def configure_logging(service: str, level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_CorrelationFilter())
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s {service} [%(correlation_id)s%(trace_id)s] %(name)s:"
            " %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # One line per request from the HTTP client would drown the one line per business step.
    for chatty in ("httpx", "httpcore", "pika"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
