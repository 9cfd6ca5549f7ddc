"""OpenTelemetry tracing: set up once per process, off unless configured.

Off (the default) leaves the API's no-op tracer provider in place and installs no
instrumentation, so tracing costs a flag test per hop. It is on when the standard variables ask
for an exporter (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or
`OTEL_TRACES_EXPORTER=otlp,console`) or when `ORDERFLOW_TRACES_FILE` names a file for the SDK's
OTLP JSON file exporter (one ExportTraceServiceRequest per line; `{service}` in the path is
replaced by the service's name, so each process can write its own file). `OTEL_SDK_DISABLED=true`
turns it all off. Everything else (sampler, resource attributes, batch sizes, OTLP headers and
timeouts) is read by the SDK itself from its own `OTEL_*` variables.

Hops with a maintained instrumentation use it (ASGI/FastAPI, grpc aio, the aiohttp client);
the others (JSON-RPC, the broker's CloudEvents, the outbox, the saga) call `span` with the
W3C trace context they carried, as `carrier()` wrote it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from opentelemetry import context, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.kernel.config import ConfigError

TRACES_FILE: Final = "ORDERFLOW_TRACES_FILE"
# A store transaction's span: named `transaction <what it does>`, with what it does as this
# attribute too (the report's breakdown counts these spans as the stores' time).
TRANSACTION: Final = "orderflow.transaction"
TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
# W3C Trace Context: a version-00 traceparent is 55 characters; tracestate holds at most 32
# list members, which the spec expects to fit in 512 characters.
MAX_TRACEPARENT: Final = 55
MAX_TRACESTATE: Final = 512
_SCOPE: Final = "orderflow"
# Our own hops carry W3C Trace Context whatever OTEL_PROPAGATORS says: it is what their
# contracts name (the CloudEvents Distributed Tracing extension, JSON-RPC's `_meta`).
_W3C: Final = TraceContextTextMapPropagator()

_enabled = False
_NOTHING: Final = contextlib.nullcontext()
# Asked for once: the SDK builds a new tracer on every get_tracer (tens of microseconds each,
# measured), and a traced order makes a dozen hand-made spans per service.
_tracer: trace.Tracer = trace.NoOpTracer()

Carrier = dict[str, str]


def configure(service: str, environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Install the SDK's tracer provider if the environment asks for traces; None when off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporters = _exporters(service, environ)
    if not exporters:
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    return provider


def install(provider: TracerProvider) -> None:
    """Use `provider` for the whole process (tests install one with an in-memory exporter)."""
    global _enabled, _tracer
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer(_SCOPE)  # the process's provider (the API keeps its first)
    _enabled = True


def enabled() -> bool:
    return _enabled


def turn_on() -> None:
    """Use the provider already installed again (tests: the API keeps its first provider)."""
    global _enabled
    _enabled = True


def turn_off() -> None:
    """Stop tracing in this process (tests: the services' default state)."""
    global _enabled
    _enabled = False


def carrier() -> Carrier:
    """The current trace context as W3C `traceparent` (and `tracestate`): empty when off."""
    found: Carrier = {}
    if _enabled:
        _W3C.inject(found)
    return found


def parent(traceparent: str | None, tracestate: str | None = None) -> context.Context | None:
    """The context a carried `traceparent` names (None when off, absent or malformed)."""
    if not _enabled or not traceparent:
        return None
    fields = {TRACEPARENT: traceparent}
    if tracestate:
        fields[TRACESTATE] = tracestate
    extracted = _W3C.extract(fields)
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


def root() -> context.Context:
    """An empty context: a span started in it begins a trace of its own."""
    return context.Context()


def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    *,
    parent_context: context.Context | None = None,
    attributes: Mapping[str, str] | None = None,
) -> contextlib.AbstractContextManager[object]:
    """A span around the block, current inside it; when off, one shared no-op (no allocation)."""
    if not _enabled:
        return _NOTHING
    return _tracer.start_as_current_span(
        name, context=parent_context, kind=kind, attributes=attributes
    )


def transaction(name: str) -> contextlib.AbstractContextManager[object]:
    """A span around one store transaction, named by what it does (`inventory.reserve`).

    Only inside a trace: a transaction nothing asked for (seeding the catalogue, marking the
    outbox's rows published) would otherwise start a one-span trace of its own every time.
    Put at the transactions' call sites, not in the store, so any store backend gets it."""
    if not _enabled or not trace.get_current_span().get_span_context().is_valid:
        return _NOTHING
    return span(f"transaction {name}", attributes={TRANSACTION: name})


def mark(name: str, attributes: Mapping[str, str] | None = None) -> None:
    """A zero-length span where something happened to the current trace's request (a retry, a
    breaker's refusal): a row of its own in any waterfall, at the moment it happened. Nothing
    outside a trace, nothing when off."""
    if _enabled and trace.get_current_span().get_span_context().is_valid:
        with span(name, attributes=attributes):
            pass


def trace_id() -> str | None:
    """The current trace id in hex (what a trace UI searches for), or None."""
    if not _enabled:
        return None
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def valid_header(name: str, value: object) -> bool:
    """Whether a carried trace field is a string of a sane length (bounded input)."""
    limit = MAX_TRACEPARENT if name == TRACEPARENT else MAX_TRACESTATE
    return isinstance(value, str) and len(value) <= limit and value.isascii()


def _exporters(service: str, environ: Mapping[str, str]) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    for name in _requested(environ):
        if name == "otlp":
            exporters.append(_otlp(environ))
        elif name == "console":
            exporters.append(ConsoleSpanExporter(service_name=service))
        elif name != "none":
            raise ConfigError(f"OTEL_TRACES_EXPORTER: {name!r} is not one of otlp, console, none")
    if path := environ.get(TRACES_FILE, "").strip():
        exporters.append(_file(Path(path.replace("{service}", service))))
    return exporters


def _file(path: Path) -> SpanExporter:
    from opentelemetry.exporter.otlp.json.file.trace_exporter import FileSpanExporter

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileSpanExporter(path)
    except OSError as error:
        raise ConfigError(f"{TRACES_FILE}: cannot write to {path}: {error.strerror}") from None


def _requested(environ: Mapping[str, str]) -> list[str]:
    """OTEL_TRACES_EXPORTER if set; otherwise otlp as soon as an OTLP endpoint is given."""
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if named:
        return [part.strip().lower() for part in named.split(",") if part.strip()]
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return ["otlp"] if any(environ.get(name, "").strip() for name in endpoints) else []


def _otlp(environ: Mapping[str, str]) -> SpanExporter:
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if protocol.strip() not in ("", "http/protobuf"):
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported; use http/protobuf"
        )
    # Imported here: the exporter pulls in its HTTP stack, which a process without traces skips.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
