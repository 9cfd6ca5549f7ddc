"""Pattern telemetry without processes: what is read from a service's metrics (its own
registry, as /metrics renders it), a counter's increase per second, and which traced order the
scenario report shows during a fault."""

from __future__ import annotations

import math

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.bench.results_model import StyleResult
from harness.bench.results_telemetry_model import Telemetry as TelemetrySection
from harness.report.fault_traces import order_during_fault
from harness.report.telemetry import StyleTelemetry, chart, per_second, replica_requests
from harness.telemetry import scrape
from harness.traces.orders import StyleTraces
from harness.traces.spans import Span
from services.kernel.faults import Faults
from services.kernel.grpc.counting import CallCounter
from services.kernel.resilience.guard import GuardMetrics
from services.kernel.telemetry import Telemetry
from tests.unit.report_documents import T0, scenario_style, telemetry_section


def read(telemetry: Telemetry) -> dict[str, object]:
    text = generate_latest(telemetry.registry).decode()
    return scrape.patterns(text_string_to_metric_families(text))


def test_counters_are_summed_over_their_labels_and_gauges_read_as_they_are() -> None:
    telemetry = Telemetry("order")
    guards = GuardMetrics(telemetry)
    guards.state.labels("payment").set(2)
    guards.state.labels("inventory").set(0)
    guards.retries.labels("payment", "charge").inc(3)
    guards.retries.labels("inventory", "reserve").inc(2)
    telemetry.gauge("orderflow_outbox_backlog", "backlog", []).set(7)
    assert read(telemetry) == {
        "breakers": {"payment": 2, "inventory": 0},
        "retries": 5,
        "bulkhead_rejections": 0,
        "outbox_backlog": 7,
        "requests": {"http": 0, "websocket": 0},  # every service counts its HTTP requests
    }


def test_a_metric_the_service_does_not_have_is_left_out_not_read_as_zero() -> None:
    telemetry = Telemetry("payment")
    Faults(["payment.charge"], telemetry)
    found = read(telemetry)
    assert "breakers" not in found and "retries" not in found
    assert found == {"faults_injected": 0, "requests": {"http": 0, "websocket": 0}}


def test_a_counters_increase_per_second_starts_again_when_the_service_restarts() -> None:
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]
    totals = [0.0, 3.0, math.nan, 5.0, 2.0, 6.0]  # silent at 2 s, restarted before 4 s
    rates = per_second(times, totals)
    assert math.isnan(rates[0]) and math.isnan(rates[2]) and math.isnan(rates[3])
    assert rates[1] == 3.0 and rates[4] == 2.0 and rates[5] == 2.0


def trace(order: str, start_s: float, ms: float) -> list[Span]:
    start = int(start_s * 1e9)
    return [
        Span("t" + order, "s" + order, "", "POST /orders", "order", start, start + int(ms * 1e6))
    ]


def test_the_order_shown_during_a_fault_is_the_longest_in_flight_within_it() -> None:
    zero = T0  # the documents' load start; their payment crash is from 4 s to 7.5 s
    orders = [
        trace("early", zero + 2.0, 10),
        trace("during", zero + 5.0, 40),
        trace("during-longer", zero + 6.0, 90),
        trace("after-longest", zero + 9.0, 900),
    ]
    result = scenario_style("rest") | {"telemetry": telemetry_section()}
    typed = StyleResult.model_validate(result)
    chosen = order_during_fault(StyleTraces("rest", orders), typed)
    assert chosen is not None
    spans, at_s, window = chosen
    assert spans[0].trace_id == "tduring-longer" and at_s == 6.0
    assert window.label == "payment crash at 4s for 3s"
    # One begun before the fault that waited through it (a broker order in an outage) counts.
    waited = trace("waited", zero + 3.0, 2_000)
    chosen = order_during_fault(StyleTraces("rest", [*orders[:3], waited, orders[3]]), typed)
    assert chosen is not None and chosen[0] == waited and chosen[1] == 3.0
    untimed = StyleResult.model_validate(scenario_style("rest"))  # no telemetry: no zero
    assert order_during_fault(StyleTraces("rest", orders), untimed) is None


def test_requests_are_read_by_what_carried_them_without_probes_and_scrapes() -> None:
    """Per replica, the spread a balancer made: the proxy's health checks are not load."""
    telemetry = Telemetry("inventory")
    telemetry.http_requests.labels("POST", "/reservations", "201").inc(4)
    telemetry.http_requests.labels("POST", "/graphql", "200").inc(2)
    telemetry.http_requests.labels("GET", "/health", "200").inc(50)
    telemetry.http_requests.labels("GET", "/metrics", "200").inc(9)
    CallCounter(telemetry).calls.labels("/orderflow.v1.InventoryService/Reserve").inc(3)
    telemetry.counter("orderflow_broker_consumed", "consumed", ["type", "outcome"]).labels(
        "order.placed", "handled"
    ).inc(5)
    telemetry.websocket_messages.labels("/ws").inc(7)
    assert read(telemetry)["requests"] == {"http": 6, "grpc": 3, "websocket": 7, "broker": 5}


def test_the_report_draws_each_replicas_requests_and_its_share() -> None:
    """With replicas, results.json's telemetry reads each one: the report's spread panel."""
    series = []
    for t in range(5):
        inventory = {
            "inventory-1": {"answered": True, "requests": {"http": 30 * t, "grpc": 0, "broker": 0}},
            "inventory-2": {"answered": True, "requests": {"http": 10 * t, "grpc": 0, "broker": 0}},
        }
        series.append(
            {
                "t": float(t),
                "services": {"inventory": {"answered": True}},
                "replicas": {"inventory": inventory},
            }
        )
    section = TelemetrySection.model_validate(
        {"interval_s": 1.0, "started_at": T0, "series": series}
    )
    style = StyleTelemetry("rest", section, [], 0.0)
    lines = replica_requests(style)
    assert [label for label, *_ in lines] == ["inventory-1: 75%", "inventory-2: 25%"]
    assert lines[0][2][1:] == [30.0] * 4 and lines[1][2][1:] == [10.0] * 4
    assert chart(style) is not None
    one_replica = StyleTelemetry(
        "rest", TelemetrySection.model_validate(telemetry_section()), [], 0.0
    )
    assert replica_requests(one_replica) == []  # no replicas: no spread panel
