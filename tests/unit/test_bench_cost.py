"""harness/bench/cost.py: CPU-ms per order, the no-op's cost, the bound and its share."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench.cost import (
    PATHS,
    bound,
    cpu_section,
    fraction_of_bound,
    noop_cost,
    per_order,
    transaction_ms,
)
from harness.bench.cpu import Reading

SPENT: Reading = {
    "order": 2.0,
    "inventory": 1.0,
    "payment": 0.5,
    "notification": 0.5,
    "locust": 1.0,
}


def test_cpu_per_order_is_each_process_over_the_orders_and_the_total_their_sum() -> None:
    found = per_order(SPENT, orders=1000)
    assert found["processes"] == {
        "order": 2.0,
        "inventory": 1.0,
        "payment": 0.5,
        "notification": 0.5,
        "locust": 1.0,
    }
    assert found["total_ms"] == 5.0 and found["orders"] == 1000


def test_a_process_not_attributed_is_left_out_of_the_total_not_counted_as_zero() -> None:
    found = per_order({**SPENT, "order": None}, orders=1000)
    assert found["processes"]["order"] is None
    assert found["total_ms"] == 3.0


def test_without_orders_there_is_no_figure_per_order() -> None:
    found = per_order(SPENT, orders=0)
    assert set(found["processes"].values()) == {None} and found["total_ms"] is None


def test_the_noop_costs_the_services_server_side_and_the_generator_client_side() -> None:
    spent = {"order": 0.3, "inventory": 0.05, "payment": 0.05, "notification": 0.1, "locust": 1.5}
    assert noop_cost(spent, noops=5000) == {"server_ms": 0.1, "client_ms": 0.3}


def test_the_server_side_is_unknown_if_any_service_was_not_measured() -> None:
    spent = {**SPENT, "payment": None}
    assert noop_cost(spent, noops=100) == {"server_ms": None, "client_ms": 10.0}
    assert noop_cost(spent, noops=0) == {"server_ms": None, "client_ms": None}


def test_the_bound_is_hops_times_the_noop_plus_transactions() -> None:
    found = bound("rest", {"server_ms": 0.1, "client_ms": 0.3}, transaction_ms=0.02)
    # REST: 2.5 client calls of the mix + reserve, charge, notify; 7 SQLite transactions.
    assert found == {
        "hops": 5.5,
        "noop_ms": 0.4,
        "transactions": 7,
        "transaction_ms": 0.02,
        "cpu_ms_per_order": pytest.approx(5.5 * 0.4 + 7 * 0.02),
    }
    broker = bound("broker", {"server_ms": 0.0, "client_ms": 0.2}, transaction_ms=0.02)
    assert broker is not None and broker["hops"] == 8.5 and broker["transactions"] == 10


def test_every_style_has_an_order_path() -> None:
    assert set(PATHS) == {"rest", "grpc", "graphql", "websocket", "broker"}


def test_no_bound_without_both_sides_of_the_noop() -> None:
    assert bound("grpc", {"server_ms": None, "client_ms": 0.3}, 0.02) is None


def test_the_fraction_is_the_bound_over_the_measured_cost() -> None:
    assert fraction_of_bound(2.0, 8.0) == 0.25
    assert fraction_of_bound(None, 8.0) is None
    assert fraction_of_bound(2.0, None) is None and fraction_of_bound(2.0, 0.0) is None


def test_the_cpu_section_puts_it_together() -> None:
    section = cpu_section(
        "websocket",
        SPENT,
        1000,
        {"server_ms": 0.1, "client_ms": 0.3},
        0.02,
        {"rabbitmq": "shared"},
    )
    assert section["total_ms"] == 5.0
    assert section["total_ms"] == sum(section["processes"].values())
    assert section["bound"]["cpu_ms_per_order"] == pytest.approx(2.34)
    assert section["bound_fraction"] == pytest.approx(2.34 / 5.0)
    assert section["not_attributed"] == {"rabbitmq": "shared"}
    without = cpu_section("websocket", SPENT, 1000, None, 0.02, {})
    assert without["bound"] is None and without["bound_fraction"] is None


def test_a_store_transaction_costs_some_cpu_and_leaves_no_file(tmp_path: Path) -> None:
    cost = transaction_ms(tmp_path, count=50)
    assert 0 < cost < 50  # milliseconds of CPU for a one-row insert: never zero, never huge
    assert list(tmp_path.iterdir()) == []
