"""The load generator's side of an order's trace (harness/load/tracing.py): its root span, and
the W3C context each style's request carries, in that protocol's own place."""

from __future__ import annotations

import os
from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harness.load import tracing as traced
from services.kernel import tracing
from services.kernel.jsonrpc.params import Params
from tests.tracing_fixture import spans

__all__ = ["spans"]  # the fixture


def test_off_the_requests_carry_nothing_and_the_order_span_costs_nothing() -> None:
    with traced.order_request("rest") as request:
        request.is_for("o-1")
        assert traced.headers() == {} and traced.grpc_metadata() is None
        assert traced.rpc_params({"customer_id": "c"}) == {"customer_id": "c"}


def test_an_orders_request_is_the_root_span_and_names_its_order_and_style(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.span("something else, earlier"), traced.order_request("grpc") as request:
        request.is_for("o-1")
        carried = traced.headers()
    (root,) = [s for s in spans.get_finished_spans() if s.name == "grpc place_order"]
    assert root.parent is None  # a trace of its own, whatever ran around it
    assert root.attributes == {"orderflow.style": "grpc", "orderflow.order": "o-1"}
    trace_id, span_id = format(root.context.trace_id, "032x"), format(root.context.span_id, "016x")
    assert carried["traceparent"].startswith(f"00-{trace_id}-{span_id}-")


def test_each_protocol_carries_the_context_where_its_server_reads_it(
    spans: InMemorySpanExporter,
) -> None:
    with traced.order_request("websocket"):
        header = traced.headers()["traceparent"]
        assert traced.grpc_metadata() == (("traceparent", header),)
        params = traced.rpc_params({"customer_id": "c"})
    # The JSON-RPC server reads `_meta` apart from the method's own arguments.
    arguments, meta = Params.of(params)
    assert meta.traceparent == header and arguments.allow("customer_id") is arguments


def test_each_locust_process_writes_a_file_of_its_own(tmp_path: Path) -> None:
    wanted = {tracing.TRACES_FILE: str(tmp_path / "{service}.jsonl")}
    exporters = tracing._exporters("locust", wanted)  # what configure would install
    assert [type(e).__name__ for e in exporters] == ["FileSpanExporter"]
    exporters[0].shutdown()
    own = traced.own_file(wanted)
    assert own[tracing.TRACES_FILE] == str(tmp_path / f"locust-{os.getpid()}.jsonl")
    assert traced.own_file({}) == {}
