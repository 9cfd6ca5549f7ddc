"""Failure isolation from samples: phases, p99 inflation, blast radius and recovery time."""

from __future__ import annotations

import pytest

from harness.bench.results import ORDER_COMPLETED, Sample
from harness.scenarios.phases import Window, isolation, phase_bounds, uses

ZERO = 1_700_000_000.0
PAYMENT_DOWN = [Window("payment", 10.0, 20.0)]


def steady(
    operation: str, start_s: float, end_s: float, latency_ms: float, fail: bool = False
) -> list[Sample]:
    """Ten samples a second of one operation from start_s to end_s."""
    steps = round((end_s - start_s) * 10)
    return [
        Sample(ZERO + start_s + i / 10, operation, latency_ms, "boom" if fail else None)
        for i in range(steps)
    ]


def orders(start_s: float, end_s: float, latency_ms: float, fail: bool = False) -> list[Sample]:
    """Orders placed (accepted) and completed, or failing to complete, ten a second."""
    return steady("place_order", start_s, end_s, 5.0) + steady(
        ORDER_COMPLETED, start_s, end_s, latency_ms, fail
    )


def test_without_faults_the_whole_run_after_the_warmup_is_before() -> None:
    assert phase_bounds([], warmup_s=5.0, duration_s=30.0) == {"before": (5.0, 30.0)}


def test_the_phases_run_from_the_first_fault_start_to_the_last_fault_end() -> None:
    windows = [Window("payment", 15.0, 20.0), Window("broker", 18.0, 26.0)]
    assert phase_bounds(windows, 5.0, 40.0) == {
        "before": (5.0, 15.0),
        "during": (15.0, 26.0),
        "after": (26.0, 40.0),
    }


def test_what_each_operation_uses_decides_the_blast_radius() -> None:
    assert uses("rest", "browse_catalog") == {"inventory", "load"}
    assert "broker" not in uses("rest", "place_order")
    assert {"broker", "payment"} <= uses("broker", ORDER_COMPLETED)


def test_phases_split_success_and_latency_and_the_warmup_counts_nowhere() -> None:
    samples = (
        steady(ORDER_COMPLETED, 0.0, 5.0, 900.0)  # warm-up: slow, and not measured
        + steady(ORDER_COMPLETED, 5.0, 10.0, 20.0)
        + steady(ORDER_COMPLETED, 10.0, 20.0, 200.0, fail=True)
        + steady(ORDER_COMPLETED, 20.0, 30.0, 20.0)
    )
    found = isolation("rest", samples, ZERO, PAYMENT_DOWN, 5.0, 30.0)
    before, during, after = (found["phases"][p] for p in ("before", "during", "after"))
    assert (before["count"], before["success_ratio"], before["p99_ms"]) == (50, 1.0, 20.0)
    assert (during["count"], during["success_ratio"], during["p99_ms"]) == (100, 0.0, 200.0)
    assert (after["count"], after["success_ratio"]) == (100, 1.0)
    assert before["orders_per_s"] == 10.0 and during["orders_per_s"] == 0.0
    assert found["p99_inflation"][ORDER_COMPLETED] == 10.0


def test_the_blast_radius_holds_only_the_operations_that_spare_the_faulted_part() -> None:
    samples = (
        steady("browse_catalog", 5.0, 30.0, 10.0)
        + steady(ORDER_COMPLETED, 5.0, 10.0, 20.0)
        + steady(ORDER_COMPLETED, 10.0, 20.0, 30.0, fail=True)
        + steady("get_order", 5.0, 10.0, 5.0)
        + steady("get_order", 10.0, 20.0, 50.0)  # slowed though it needs only order
    )
    radius = isolation("grpc", samples, ZERO, PAYMENT_DOWN, 5.0, 30.0)["blast_radius"]
    assert radius["faulted"] == ["payment"]
    assert set(radius["operations"]) == {"browse_catalog", "get_order"}
    assert radius["operations"]["browse_catalog"] == {
        "success_ratio_before": 1.0,
        "success_ratio_during": 1.0,
        "p99_inflation": 1.0,
    }
    assert radius["operations"]["get_order"]["p99_inflation"] == 10.0


def test_recovery_is_counted_from_the_fault_end_to_three_good_seconds_in_a_row() -> None:
    samples = (
        orders(5.0, 10.0, 20.0)
        + orders(10.0, 24.0, 20.0, fail=True)  # still failing 4 s after
        + orders(24.0, 25.0, 20.0)  # one good second
        + orders(25.0, 26.0, 100.0)  # too slow: more than twice the p99
        + orders(26.0, 40.0, 30.0)
    )
    found = isolation("rest", samples, ZERO, PAYMENT_DOWN, 5.0, 40.0)
    assert found["recovery_s"] == 6.0


def test_a_style_that_never_recovers_has_no_recovery_time() -> None:
    samples = orders(5.0, 10.0, 20.0) + orders(10.0, 30.0, 20.0, fail=True)
    assert isolation("rest", samples, ZERO, PAYMENT_DOWN, 5.0, 30.0)["recovery_s"] is None


def test_a_run_without_faults_has_no_inflation_blast_radius_or_recovery() -> None:
    found = isolation("rest", steady(ORDER_COMPLETED, 0.0, 30.0, 20.0), ZERO, [], 5.0, 30.0)
    assert set(found["phases"]) == {"before"}
    assert found["p99_inflation"] == {}
    assert found["blast_radius"] == {"faulted": [], "operations": {}}
    assert found["recovery_s"] is None


@pytest.mark.parametrize("late_s", [30.0, 34.5])
def test_a_sample_due_as_the_run_stopped_counts_in_the_last_phase(late_s: float) -> None:
    samples = [Sample(ZERO + late_s, ORDER_COMPLETED, 5.0, None)]
    found = isolation("rest", samples, ZERO, PAYMENT_DOWN, 5.0, 30.0)
    assert found["phases"]["after"]["count"] == 1


def test_a_recovery_needs_three_whole_seconds_so_one_at_the_end_is_not_enough() -> None:
    samples = (
        orders(5.0, 10.0, 20.0)
        + orders(10.0, 29.0, 20.0, fail=True)
        + orders(29.0, 30.0, 20.0)  # the last second is good, alone
    )
    assert isolation("rest", samples, ZERO, PAYMENT_DOWN, 5.0, 30.0)["recovery_s"] is None


def test_a_fault_that_never_ended_lasts_to_the_end_of_the_run() -> None:
    never = [Window("payment", 10.0, float("inf"))]
    samples = steady(ORDER_COMPLETED, 5.0, 30.0, 20.0)
    found = isolation("rest", samples, ZERO, never, 5.0, 30.0)
    assert set(found["phases"]) == {"before", "during"}
    assert found["phases"]["during"]["to_s"] == 30.0 and found["recovery_s"] is None


def test_a_traffic_spike_spares_no_operation() -> None:
    spike = [Window("load", 10.0, 20.0)]
    samples = steady("browse_catalog", 5.0, 30.0, 10.0) + steady(ORDER_COMPLETED, 5.0, 30.0, 20.0)
    assert isolation("rest", samples, ZERO, spike, 5.0, 30.0)["blast_radius"]["operations"] == {}


def test_orders_never_accepted_count_against_the_order_success_ratio() -> None:
    # The order service is down: places fail at once, so no order completes, well or badly.
    samples = (
        orders(5.0, 10.0, 20.0)
        + steady("place_order", 10.0, 20.0, 1.0, fail=True)
        + orders(20.0, 30.0, 20.0)
    )
    found = isolation("rest", samples, ZERO, [Window("order", 10.0, 20.0)], 5.0, 30.0)
    phases = found["phases"]
    assert [phases[p]["order_success_ratio"] for p in ("before", "during", "after")] == [
        1.0,
        0.0,
        1.0,
    ]
    assert found["recovery_s"] == 0.0
