"""Tracing's configuration and where the W3C trace context is read from and written to: the
CloudEvents Distributed Tracing extension, JSON-RPC's `_meta`, the outbox row."""

from __future__ import annotations

import contextvars
import json
import logging
import sqlite3
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.kernel import correlation, sqlite, tracing
from services.kernel.broker import catalogue as ev
from services.kernel.broker import outbox
from services.kernel.broker.binding import decode_message
from services.kernel.broker.events import decode, new_event
from services.kernel.config import ConfigError
from services.kernel.jsonrpc.errors import RpcError
from services.kernel.jsonrpc.params import Params
from services.kernel.telemetry import configure_logging
from tests.tracing_fixture import spans

__all__ = ["spans"]  # the fixture

# The W3C Trace Context spec's own example.
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACESTATE = "congo=t61rcWkgMzE"


@pytest.fixture
def on(spans: InMemorySpanExporter) -> None:
    """Tracing on (the shared in-memory provider)."""


def test_off_unless_the_environment_asks_for_traces() -> None:
    assert tracing.configure("order", {}) is None
    assert tracing.configure("order", {"OTEL_TRACES_SAMPLER": "always_on"}) is None
    disabled = {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}
    assert tracing.configure("order", disabled) is None
    assert not tracing.enabled() and tracing.carrier() == {} and tracing.trace_id() is None


def test_the_exporters_follow_the_standard_variables(tmp_path: Path) -> None:
    otlp = tracing._exporters("order", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert [type(e).__name__ for e in otlp] == ["OTLPSpanExporter"]
    otlp[0].shutdown()
    chosen = {"OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}
    assert [type(e) for e in tracing._exporters("order", chosen)] == [ConsoleSpanExporter]
    assert tracing._exporters("order", {"OTEL_TRACES_EXPORTER": "none"}) == []
    path = tmp_path / "spans" / "{service}.jsonl"
    (written,) = tracing._exporters("payment", {tracing.TRACES_FILE: str(path)})
    assert type(written).__name__ == "FileSpanExporter"
    written.shutdown()
    assert (tmp_path / "spans" / "payment.jsonl").exists()


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        ({tracing.TRACES_FILE: "/proc/no/such/dir/spans.jsonl"}, tracing.TRACES_FILE),
    ],
)
def test_a_configuration_it_cannot_honour_fails_naming_the_variable(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        tracing._exporters("order", environ)


def test_an_event_written_in_a_span_carries_its_context_and_reads_back(on: None) -> None:
    with tracing.span("writer"):
        event = new_event(ev.ORDER_PLACED, "orderflow/order", {}, "c-1")
        expected = tracing.carrier()
    assert event.traceparent == expected["traceparent"]
    envelope = json.loads(event.encode())
    assert envelope["traceparent"] == expected["traceparent"]
    assert decode(event.encode()) == event


def test_a_foreign_events_tracing_attributes_are_kept_in_both_content_modes() -> None:
    attributes = {"specversion": "1.0", "id": "e-1", "source": "/shop", "type": ev.ORDER_PLACE}
    body = {**attributes, "traceparent": TRACEPARENT, "tracestate": TRACESTATE, "data": {}}
    structured = decode(json.dumps(body).encode())
    headers = {f"cloudEvents:{k}": v for k, v in body.items() if k != "data"}
    binary = decode_message(b"{}", "application/json", headers)
    for event in (structured, binary):
        assert (event.traceparent, event.tracestate) == (TRACEPARENT, TRACESTATE)


def test_an_unreadable_trace_context_is_ignored_not_refused() -> None:
    """W3C: a receiver that cannot read a traceparent starts a new trace; the event is fine."""
    body = {"specversion": "1.0", "id": "e-1", "source": "/s", "type": ev.ORDER_PLACE}
    event = decode(json.dumps({**body, "traceparent": "00-" + "a" * 300}).encode())
    assert event.traceparent is None
    assert tracing.parent("00-not-a-trace-01") is None


def test_jsonrpc_meta_carries_the_trace_context() -> None:
    raw = {"x": 1, "_meta": {"correlation_id": "c", "traceparent": TRACEPARENT}}
    params, meta = Params.of(raw)
    assert (meta.correlation_id, meta.traceparent, meta.tracestate) == ("c", TRACEPARENT, None)
    params.allow("x")


@pytest.mark.parametrize("bad", [5, "00-" + "a" * 100, ["x"]])
def test_jsonrpc_meta_refuses_a_trace_context_that_is_not_a_short_string(bad: object) -> None:
    with pytest.raises(RpcError) as caught:
        Params.of({"_meta": {"traceparent": bad}})
    assert caught.value.data == {"code": "INVALID_REQUEST", "field": "_meta.traceparent"}


def test_an_outbox_written_before_traces_gains_the_columns(tmp_path: Path) -> None:
    """A database file of the previous release: its outbox rows are still relayed."""
    path = tmp_path / "old.db"
    old_schema = outbox.SCHEMA.replace(
        ",\n    traceparent  TEXT,  -- the trace context of the transaction that wrote the row\n"
        "    tracestate   TEXT",
        "",
    )
    assert "traceparent" not in old_schema
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(old_schema)
    db.execute(
        "INSERT INTO outbox (event_id, type, correlation, body, created_at)"
        " VALUES ('e', 't', 'c', x'7b7d', 'now')"
    )
    messages = outbox.Messages(sqlite.SqliteDatabase(db))
    (row,) = messages.unpublished()
    assert (row.event_id, row.traceparent, row.tracestate) == ("e", None, None)
    outbox.Messages(sqlite.SqliteDatabase(db))  # a second start finds the columns there


def test_log_lines_name_the_trace_next_to_the_correlation_id(
    on: None, capsys: pytest.CaptureFixture[str]
) -> None:
    def log_two_lines() -> str | None:
        correlation.set_current("corr-7")
        with tracing.span("work"):
            trace_id = tracing.trace_id()
            logging.getLogger("t").info("hello")
        logging.getLogger("t").info("after")
        return trace_id

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("order", "INFO")
        # In a context of its own: the correlation id set here must not leak into other tests.
        trace_id = contextvars.copy_context().run(log_two_lines)
    finally:
        root.handlers[:], root.level = handlers, level
    lines = capsys.readouterr().err.splitlines()
    assert f"[corr-7 trace={trace_id}] t: hello" in lines[0]
    assert "[corr-7] t: after" in lines[1]
