"""Trace files as a bench's stack writes them: the SDK's own OTLP JSON file exporter, one file
per service, here with span times chosen by the test (so that what is read back is known)."""

from __future__ import annotations

from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file.trace_exporter import FileSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

MS = 1_000_000  # nanoseconds


class TraceFiles:
    """One tracer provider per service, each writing <folder>/<service>.jsonl."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.providers = {
            service: _provider(folder / f"{service}.jsonl", service)
            for service in ("order", "inventory")
        }

    def order(self, order_id: str, start_s: float, order_ms: int, inventory_ms: int) -> None:
        """POST /orders (order) > saga reserve > POST (client) > POST /reservations
        (inventory), then an event published and handled 3 ms later: the order's own work is
        order_ms less the call; the call's hop 2 ms; the queue wait 3 ms."""
        order = self.providers["order"].get_tracer("test")
        inventory = self.providers["inventory"].get_tracer("test")
        t0 = int(start_s * 1e9)
        server = order.start_span("POST /orders", kind=trace.SpanKind.SERVER, start_time=t0)
        within = trace.set_span_in_context(server)
        step = order.start_span(
            "saga reserve", within, attributes={"orderflow.order": order_id}, start_time=t0 + MS
        )
        call = order.start_span(
            "POST", trace.set_span_in_context(step), trace.SpanKind.CLIENT, start_time=t0 + 2 * MS
        )
        handled = inventory.start_span(
            "POST /reservations",
            trace.set_span_in_context(call),
            trace.SpanKind.SERVER,
            start_time=t0 + 3 * MS,
        )
        handled.end(t0 + (3 + inventory_ms) * MS)
        call.end(t0 + (4 + inventory_ms) * MS)
        step.end(t0 + (5 + inventory_ms) * MS)
        publish = order.start_span(
            "publish order.confirmed",
            within,
            trace.SpanKind.PRODUCER,
            start_time=t0 + (6 + inventory_ms) * MS,
        )
        publish.end(t0 + (7 + inventory_ms) * MS)
        consume = order.start_span(
            "process order.confirmed",
            trace.set_span_in_context(publish),
            trace.SpanKind.CONSUMER,
            start_time=t0 + (10 + inventory_ms) * MS,
        )
        consume.end(t0 + (11 + inventory_ms) * MS)
        server.end(t0 + order_ms * MS)

    def close(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


def _provider(path: Path, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(path)))
    return provider
