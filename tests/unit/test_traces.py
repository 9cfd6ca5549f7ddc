"""The spans a bench run collects: written by the SDK's own OTLP JSON file exporter (as the
services write them), read back into waterfalls, and found by order id."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file.trace_exporter import FileSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from harness.cli import trace as trace_command
from harness.cli.main import main
from harness.traces import collect
from harness.traces.spans import TracesError, order_traces, read_file, read_folder
from harness.traces.waterfall import rows, text


def _write_order(folder: Path, order_id: str) -> None:
    """One order across two services, each writing its own file, as a bench's stack does."""
    folder.mkdir(parents=True, exist_ok=True)
    order = _provider(folder / "order.jsonl", "order")
    inventory = _provider(folder / "inventory.jsonl", "inventory")
    tracer = order.get_tracer("test")
    downstream = inventory.get_tracer("test")
    with (
        tracer.start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER),
        tracer.start_as_current_span("saga reserve", attributes={"orderflow.order": order_id}),
        downstream.start_as_current_span("POST /reservations", kind=trace.SpanKind.SERVER),
    ):
        time.sleep(0.002)
    order.shutdown()
    inventory.shutdown()


def _provider(path: Path, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(path)))
    return provider


def test_spans_written_by_the_sdk_are_read_back_with_their_tree(tmp_path: Path) -> None:
    _write_order(tmp_path, "order-1")
    spans = read_folder(tmp_path)
    assert {(s.name, s.service) for s in spans} == {
        ("POST /orders", "order"),
        ("saga reserve", "order"),
        ("POST /reservations", "inventory"),
    }
    assert len({s.trace_id for s in spans}) == 1
    waterfall = rows(order_traces(spans)["order-1"])
    assert [(r.span.name, r.depth) for r in waterfall] == [
        ("POST /orders", 0),
        ("saga reserve", 1),
        ("POST /reservations", 2),
    ]
    assert waterfall[0].span.kind == "SERVER"
    assert waterfall[2].duration_ms >= 2.0
    assert waterfall[2].offset_ms >= waterfall[1].offset_ms


def test_a_line_that_is_not_otlp_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "order.jsonl"
    path.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}\n')
    with pytest.raises(TracesError, match=r"order\.jsonl:1: not an OTLP JSON export"):
        read_file(path)


def test_a_line_still_being_written_is_left_for_the_next_reading(tmp_path: Path) -> None:
    _write_order(tmp_path, "order-1")
    path = tmp_path / "order.jsonl"
    whole = path.read_text()
    written = len(read_file(path))
    halfway = whole[: whole.index("\n") // 2]  # the exporter halfway through its next line
    path.write_text(whole + halfway)
    assert len(read_file(path)) == written
    path.write_text(whole + whole)
    assert len(read_file(path)) == 2 * written


def test_a_traced_bench_writes_into_the_results_folder_sampling_one_in_ten(
    tmp_path: Path,
) -> None:
    env = collect.environment(tmp_path, {})
    assert env["ORDERFLOW_TRACES_FILE"] == str(tmp_path / "traces" / "{service}.jsonl")
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    every = collect.environment(tmp_path, {"OTEL_TRACES_SAMPLER_ARG": "0.5"}, ratio=1.0)
    assert every["OTEL_TRACES_SAMPLER_ARG"] == "1"  # --traces 1 says how much


def test_a_sampler_the_user_chose_is_kept(tmp_path: Path) -> None:
    env = collect.environment(tmp_path, {"OTEL_TRACES_SAMPLER": "always_on"})
    assert "OTEL_TRACES_SAMPLER" not in env and "OTEL_TRACES_SAMPLER_ARG" not in env


def test_orderflow_trace_prints_the_waterfall(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_order(tmp_path / "traces", "order-1")
    code = trace_command.run(argparse.Namespace(order_id="order-1", results=tmp_path))
    out = capsys.readouterr().out
    assert code == 0
    assert "3 spans" in out
    lines = out.splitlines()
    assert lines[1].startswith("POST /orders") and "  saga reserve" in lines[2]
    assert "    POST /reservations" in lines[3] and "inventory" in lines[3]


def test_orderflow_trace_says_in_one_line_when_the_order_has_no_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_order(tmp_path / "traces", "order-1")
    code = trace_command.run(argparse.Namespace(order_id="order-2", results=tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no trace of order order-2" in err


def test_orderflow_trace_without_traces_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = trace_command.run(argparse.Namespace(order_id="x", results=tmp_path))
    assert code == 2
    assert "no traces folder" in capsys.readouterr().err


def test_the_waterfall_text_has_a_bar_per_span(tmp_path: Path) -> None:
    _write_order(tmp_path, "order-1")
    lines = text(order_traces(read_folder(tmp_path))["order-1"]).splitlines()
    assert len(lines) == 4 and all("█" in line for line in lines[1:])


def test_orderflow_trace_reads_the_newest_results_folder_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path))
    older, newer = tmp_path / "bench" / "older", tmp_path / "bench" / "newer"
    for folder in (older, newer):
        folder.mkdir(parents=True)
        (folder / "results.json").write_text("{}")
    os.utime(older / "results.json", (1, 1))
    _write_order(newer / "traces", "order-1")
    assert main(["trace", "order-1"]) == 0
    assert "saga reserve" in capsys.readouterr().out


def _write_client_orders(folder: Path, orders: dict[str, tuple[str, float, str]]) -> None:
    """Orders begun by Locust's users (their root span names the style, as
    harness/load/tracing.py writes it): id -> (style, ms long, a span's name inside). The
    times are given, not slept: the lengths are exact whatever the machine's load."""
    folder.mkdir(parents=True, exist_ok=True)
    provider = _provider(folder / "locust-1.jsonl", "locust")
    client = provider.get_tracer("test")
    start = time.time_ns()
    for order_id, (style, ms, inside) in orders.items():
        end = start + int(ms * 1e6)
        attributes = {"orderflow.style": style, "orderflow.order": order_id}
        root = client.start_span(f"{style} place_order", start_time=start, attributes=attributes)
        context = trace.set_span_in_context(root)
        client.start_span(inside, context=context, start_time=start).end(end_time=end)
        root.end(end_time=end)
    provider.shutdown()


def test_orderflow_trace_chooses_the_typical_or_the_slow_order_of_a_style(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = {f"rest-{n}": ("rest", 10.0 * (n + 1), "saga charge") for n in range(5)}
    orders |= {"grpc-0": ("grpc", 10.0, "saga charge")}
    orders |= {"retried": ("grpc", 20.0, "retry payment charge")}
    _write_client_orders(tmp_path / "traces", orders)
    assert main(["trace", "--style", "rest", "--results", str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "order rest-2: the typical (median) of 5 traced rest orders"
    assert main(["trace", "--style", "rest", "--slow", "--results", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("order rest-4: the slow (p99)")
    assert main(["trace", "--with", "retry", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("order retried: the typical (median) of 1 traced orders with a span")
    assert "retry payment charge" in out


def test_orderflow_trace_says_when_no_order_fits_the_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_client_orders(tmp_path / "traces", {"o-1": ("rest", 10.0, "saga charge")})
    assert main(["trace", "--with", "breaker open", "--results", str(tmp_path)]) == 2
    assert "no traced orders with a span 'breaker open'" in capsys.readouterr().err
    assert main(["trace", "o-1", "--slow", "--results", str(tmp_path)]) == 2
    assert "give an ORDER_ID or choose one, not both" in capsys.readouterr().err
