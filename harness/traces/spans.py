"""Spans read back from OTLP JSON files (one ExportTraceServiceRequest per line, as the SDK's
file exporter writes them): only what a waterfall needs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

# Where an order's id is on a span: the saga's steps and the notification carry it; a broker
# event's handling carries the correlation id, which is the order's own in every style.
ORDER_KEYS: Final = ("orderflow.order", "orderflow.order_id", "orderflow.correlation")
# The style of the client that began an order's trace (the load generator's root span).
STYLE_KEY: Final = "orderflow.style"


class TracesError(ValueError):
    """The spans cannot be read (no folder, a line that is not OTLP JSON)."""


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str
    start_ns: int
    end_ns: int
    kind: str = "INTERNAL"
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    def order_id(self) -> str | None:
        return next((self.attributes[k] for k in ORDER_KEYS if k in self.attributes), None)


def read_folder(folder: Path) -> list[Span]:
    """Every span of every `*.jsonl` file in `folder`."""
    if not folder.is_dir():
        raise TracesError(f"no traces folder at {folder}")
    return [span for path in sorted(folder.glob("*.jsonl")) for span in read_file(path)]


def read_file(path: Path) -> list[Span]:
    spans: list[Span] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.endswith("\n"):
                break  # the exporter is still writing it (or was stopped mid-line): left out
            if not line.strip():
                continue
            try:
                spans.extend(_request_spans(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise TracesError(f"{path}:{number}: not an OTLP JSON export: {error}") from None
    return spans


def by_trace(spans: Iterable[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces


def order_traces(spans: Iterable[Span]) -> dict[str, list[Span]]:
    """Each order's trace (its spans by start), keyed by the order id a span of it carries."""
    found: dict[str, list[Span]] = {}
    for trace in by_trace(spans).values():
        order = next((oid for span in trace if (oid := span.order_id())), None)
        if order is not None:
            found[order] = sorted(trace, key=lambda span: span.start_ns)
    return found


def _request_spans(request: dict[str, Any]) -> Iterator[Span]:
    for resource_spans in request.get("resourceSpans", []):
        resource = _attributes(resource_spans.get("resource", {}).get("attributes", []))
        service = resource.get("service.name", "?")
        for scope_spans in resource_spans.get("scopeSpans", []):
            for raw in scope_spans.get("spans", []):
                yield _span(raw, service)


def _span(raw: dict[str, Any], service: str) -> Span:
    kind = raw.get("kind", "SPAN_KIND_INTERNAL")
    return Span(
        trace_id=raw["traceId"],
        span_id=raw["spanId"],
        parent_id=raw.get("parentSpanId", ""),
        name=raw["name"],
        service=service,
        start_ns=int(raw["startTimeUnixNano"]),
        end_ns=int(raw["endTimeUnixNano"]),
        kind=_kind(kind),
        attributes=_attributes(raw.get("attributes", [])),
    )


def _kind(kind: object) -> str:
    # The OTLP JSON mapping allows the enum's name or its number.
    names = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
    if isinstance(kind, int):
        return names[kind] if 0 <= kind < len(names) else "UNSPECIFIED"
    return str(kind).removeprefix("SPAN_KIND_")


def _attributes(pairs: list[dict[str, Any]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        value = pair.get("value", {})
        if value:
            values[pair["key"]] = str(next(iter(value.values())))
    return values
