"""A bench run's traced orders in the report: each style's orders, its typical and slow one,
and where an order's time goes, from files the SDK wrote with known span times."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import pytest

from harness.report.waterfalls import traces
from harness.traces.orders import QUEUE_WAIT, breakdown, by_style
from harness.traces.spans import Span, read_folder
from services.kernel.tracing import TRANSACTION
from tests.unit.report_documents import SECONDS, T0, load_samples, write_samples
from tests.unit.trace_files import TraceFiles

MS: Final = 1_000_000


def test_an_orders_time_is_split_by_component_and_adds_up(tmp_path: Path) -> None:
    files = TraceFiles(tmp_path)
    files.order("o-1", T0, order_ms=20, inventory_ms=5)
    files.close()
    parts = breakdown(read_folder(tmp_path))
    assert parts == pytest.approx(
        {
            "order (own work)": 9.0,
            "order → inventory (hop)": 2.0,
            "inventory (own work)": 5.0,
            "order: publish": 1.0,
            QUEUE_WAIT: 3.0,
        }
    )
    assert sum(parts.values()) == pytest.approx(20.0)


def _run_folder(folder: Path) -> None:
    """Two styles, one after the other, as a plain bench run holds them; each traced order
    starts within its style's load. rest's orders take 20..119 ms, grpc's 200..209 ms."""
    samples = load_samples()
    write_samples(folder / "rest" / "samples-load" / "s.json", "rest", samples)
    later = [replace(s, at=s.at + SECONDS + 1) for s in samples]  # grpc right after rest
    write_samples(folder / "grpc" / "samples-load" / "s.json", "grpc", later)
    files = TraceFiles(folder / "traces")
    for n in range(100):
        files.order(f"rest-{n}", T0 + 1 + n / 100, order_ms=20 + n, inventory_ms=5)
    for n in range(10):
        files.order(f"grpc-{n}", T0 + SECONDS + 2 + n / 10, order_ms=200 + n, inventory_ms=50)
    files.close()


def test_each_style_gets_its_orders_and_its_typical_and_slow_one(tmp_path: Path) -> None:
    _run_folder(tmp_path)
    found = {style.style: style for style in by_style(tmp_path, ["rest", "grpc", "broker"])}
    assert set(found) == {"rest", "grpc"}  # broker ran nothing here
    rest = found["rest"]
    assert len(rest.traces) == 100 and len(found["grpc"].traces) == 10
    assert rest.typical[0].start_ns == pytest.approx((T0 + 1 + 49 / 100) * 1e9, abs=1e3)
    assert rest.slow[0].start_ns == pytest.approx((T0 + 1 + 98 / 100) * 1e9, abs=1e3)


def test_the_report_draws_a_waterfall_per_style_and_a_breakdown(tmp_path: Path) -> None:
    _run_folder(tmp_path)
    drawn = traces(tmp_path, ["rest", "grpc"])
    assert len(drawn.waterfalls) == 2
    assert "rest: typical order, 69.0 ms" in drawn.waterfalls[0]
    assert "rest: slow (p99) order, 118.0 ms" in drawn.waterfalls[0]
    assert drawn.breakdown is not None
    rows = {row[0].text: [cell.text for cell in row] for row in drawn.breakdown.rows}
    headers = drawn.breakdown.headers
    assert rows["grpc"][headers.index("inventory (own work)")] == "50.0"
    assert rows["rest"][headers.index(QUEUE_WAIT)] == "3.0"
    assert rows["rest"][headers.index("orders traced")] == "100"


def test_a_run_without_traces_has_no_trace_section(tmp_path: Path) -> None:
    drawn = traces(tmp_path, ["rest"])
    assert drawn.waterfalls == [] and drawn.breakdown is None


def test_store_transactions_and_the_clients_hop_are_parts_of_their_own() -> None:
    """The client's root span (Locust's) makes the client → order hop a part; a transaction's
    span (services/kernel/tracing.py) counts as its service's store, not its own work."""

    def span(span_id: str, parent: str, service: str, start: int, end: int, **extra: Any) -> Span:
        return Span("t", span_id, parent, span_id, service, start * MS, end * MS, **extra)

    trace = [
        span("client", "", "locust", 0, 30, kind="CLIENT"),
        span("request", "client", "order", 5, 25, kind="SERVER"),
        span("tx", "request", "order", 10, 14, attributes={TRANSACTION: "order.place"}),
    ]
    assert breakdown(trace) == pytest.approx(
        {"locust → order (hop)": 10.0, "order (own work)": 16.0, "order: store": 4.0}
    )
