"""Scenario files on replicas: the `stack:` section, faults on one replica, each replica's
share as an expectation (spec.py), the spread read from telemetry (spread.py) and its checks
(run.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.bench.results import ORDER_COMPLETED, Sample
from harness.scenarios import ScenarioError, StackSpec, load_scenario, parse_scenario
from harness.scenarios.phases import Window, isolation
from harness.scenarios.run import _expectations
from harness.scenarios.spread import replica_spread

ZERO = 1_700_000_000.0
HERE = Path("scenarios/x.yaml")
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
HEAD = "name: x\ndescription: d\nload: {model: closed, users: 4, duration: 40s, warmup: 5s}\n"
TWO = "stack: {replicas: 2, store: postgres}\n"


def rejected(body: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(HEAD + textwrap.dedent(body), HERE)
    return str(caught.value)


def test_without_a_stack_section_the_bench_stack_is_kept() -> None:
    scenario = parse_scenario(HEAD, HERE)
    assert scenario.stack == StackSpec()
    assert (scenario.stack.replicas, scenario.stack.store) == (1, "sqlite")


def test_a_stack_section_and_a_fault_on_one_replica() -> None:
    scenario = parse_scenario(
        HEAD
        + "stack: {replicas: 3, store: postgres, grpc_balancing: proxy-l4, claim_lease: 4s}\n"
        + "faults:\n  - {at: 10s, duration: 5s, target: order-3, kind: crash}\n"
        + "  - {at: 11s, duration: 5s, target: payment-1, kind: pause}\n"
        + "expect:\n  - min_replica_share: {inventory: 0.2}\n",
        HERE,
    )
    assert scenario.stack.to_json() == {
        "replicas": 3,
        "store": "postgres",
        "grpc_balancing": "proxy-l4",
        "claim_lease_s": 4.0,
    }
    assert [(f.target, f.kind) for f in scenario.faults] == [
        ("order-3", "crash"),
        ("payment-1", "pause"),
    ]
    assert scenario.expect[0].min_replica_share == {"inventory": 0.2}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("stack: {replicas: 2}\n", ":4: stack.replicas: 2 replicas need store: postgres"),
        (
            "stack: {replicas: 2, store: sqlite}\n",
            ":4: stack.store: 2 replicas need store: postgres",
        ),
        ("stack: {replicas: 9, store: postgres}\n", ":4: stack.replicas: must be a whole number"),
        ("stack: {store: mysql}\n", ":4: stack.store: unknown store 'mysql'"),
        (
            "stack: {grpc_balancing: client}\n",
            ":4: stack.grpc_balancing: balances gRPC over several replicas",
        ),
        ("stack: {lease: 3s}\n", ":4: stack.lease: unknown field (did you mean claim_lease?)"),
        (
            TWO + "faults:\n  - {at: 10s, duration: 5s, target: order-3, kind: crash}\n",
            ":6: faults[0].target: order-3 names a replica, and the stack has 2",
        ),
        (
            "faults:\n  - {at: 10s, duration: 5s, target: order-2, kind: crash}\n",
            ":5: faults[0].target: order-2 names a replica, and the stack has 1",
        ),
        (
            TWO + "faults:\n  - {at: 10s, duration: 5s, target: order-2, kind: latency,"
            " operation: x, latency_ms: 5}\n",
            ":6: faults[0].kind: latency is a fault of",
        ),
        (
            TWO + "faults:\n  - {at: 10s, duration: 5s, target: payment, kind: errors,"
            " operation: payment.charge, error_rate: 0.5}\n",
            ":6: faults[0].kind: errors goes through a service's control address",
        ),
        (
            "expect:\n  - min_replica_share: {inventory: 0.3}\n",
            ":5: expect[0].min_replica_share: needs several replicas",
        ),
        (
            TWO + "expect:\n  - min_replica_share: {inventory: 0.6}\n",
            ":6: expect[0].min_replica_share.inventory: must be a share above 0, at most 1/2",
        ),
        (
            TWO + "expect:\n  - min_replica_share: {broker: 0.1}\n",
            ":6: expect[0].min_replica_share.broker: unknown field",
        ),
    ],
)
def test_a_mistake_names_the_line_and_the_field(body: str, message: str) -> None:
    assert f"scenarios/x.yaml{message}" in rejected(body)


@pytest.mark.parametrize("name", ["replica-crash", "balancing"])
def test_the_shipped_replica_scenarios(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    assert (scenario.stack.replicas, scenario.stack.store) == (2, "postgres")


def test_the_replica_crash_keeps_order_2_down_past_its_lease() -> None:
    """Otherwise order-2, restarted, would free its own claims and finish its sagas itself."""
    scenario = load_scenario(SCENARIOS / "replica-crash.yaml")
    (crash,) = [f for f in scenario.faults if f.target == "order-2"]
    assert crash.kind == "crash" and crash.duration_s > 10 + 2  # the lease, the recovery loop
    assert {f.target for f in scenario.faults} == {"order-2", "payment-2"}


def reading(http: int, grpc: int = 0) -> dict[str, object]:
    return {"answered": True, "requests": {"http": http, "grpc": grpc}}


def test_the_spread_sums_the_growth_of_each_replicas_totals_across_a_restart() -> None:
    points: list[dict[str, Any]] = [
        {"replicas": {"order": {"order-1": reading(10), "order-2": reading(10)}}},
        {"replicas": {"order": {"order-1": reading(40), "order-2": {"answered": False}}}},
        # order-2 restarted: its total starts from zero again
        {"replicas": {"order": {"order-1": reading(70), "order-2": reading(5, 5)}}},
    ]
    spread = replica_spread(points)["order"]
    assert spread["order-1"]["requests"] == 70 and spread["order-2"]["requests"] == 20
    assert spread["order-1"]["share"] == pytest.approx(70 / 90, abs=1e-4)
    assert spread["order-2"]["by_kind"] == {"grpc": 5, "http": 15}
    assert replica_spread([{"services": {}}]) == {}


def test_each_replicas_share_is_checked_and_a_service_never_read_fails() -> None:
    scenario = parse_scenario(
        HEAD + TWO + "expect:\n  - min_replica_share: {inventory: 0.3, payment: 0.3}\n", HERE
    )
    result = {
        "audit": {"counts": {}},
        "scenario": {
            "phases": {},
            "replicas": {
                "inventory": {
                    "inventory-1": {"requests": 8, "share": 0.8, "by_kind": {}},
                    "inventory-2": {"requests": 2, "share": 0.2, "by_kind": {}},
                }
            },
        },
    }
    checks = _expectations(scenario.expect, "rest", result)
    assert [(c["check"], c["passed"]) for c in checks] == [
        ("inventory-1 share >= 0.3", True),
        ("inventory-2 share >= 0.3", False),
        ("payment replicas read", False),
    ]


def test_one_replica_down_is_its_service_faulted_in_the_blast_radius() -> None:
    def ten_a_second(operation: str) -> list[Sample]:
        return [Sample(ZERO + 5 + i / 10, operation, 5.0, None) for i in range(250)]

    samples = ten_a_second("browse_catalog") + ten_a_second(ORDER_COMPLETED)
    windows = [Window("order-2", 10.0, 20.0)]
    radius = isolation("rest", samples, ZERO, windows, 5.0, 30.0)["blast_radius"]
    assert radius["faulted"] == ["order-2"]
    assert set(radius["operations"]) == {"browse_catalog"}  # an order needs order: not spared
