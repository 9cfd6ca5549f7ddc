"""Scenarios on replicas (`stack: {replicas: 2, store: postgres}`), run as a user runs them
(`orderflow bench <file>.yaml`): an order replica killed mid-saga is taken over by the other and
the recovery time is reported; the balancing scenario records each replica's share and checks
it. Real processes behind HAProxy on the machine's PostgreSQL and RabbitMQ, real Locust load,
real signals, then the audit across the services' stores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from harness.stack import postgres
from tests.conftest import ADMIN_URL
from tests.e2e.conftest import MACHINE_BROKER
from tests.e2e.test_bench import bench, results_of
from tests.e2e.test_scenarios import ZERO, scenario

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
LEASE_S = 3  # the short form's claim lease: the takeover cannot come much before it lapses


@pytest.fixture(scope="module", autouse=True)
def _postgres_reachable() -> None:
    """Replicas need the PostgreSQL store: say so plainly when the server is not there."""
    name = postgres.unique_name("test")
    try:
        postgres.create(ADMIN_URL, name)
    except postgres.PostgresUnavailable as error:
        pytest.fail(f"replica scenarios need PostgreSQL: {error}", pytrace=False)
    postgres.drop(ADMIN_URL, name)


def run(path: Path, out: Path, *args: str) -> tuple[dict[str, Any], str]:
    env = {
        **os.environ,
        "ORDERFLOW_BROKER_URL": MACHINE_BROKER,
        "ORDERFLOW_PROFILE": "naive",
        "ORDERFLOW_POSTGRES_ADMIN_URL": ADMIN_URL,
    }
    done = bench(str(path), "--out", str(out), *args, timeout_s=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results_of(out), done.stdout  # valid against docs/results.schema.json


@pytest.mark.timeout(300)
def test_a_killed_order_replicas_sagas_are_finished_by_the_other(tmp_path: Path) -> None:
    """payment-2 frozen first, so sagas wait mid-flight on both order replicas; then order-2
    killed with some of them claimed, and kept down past its lease: order-1 takes them over."""
    path = scenario(
        tmp_path,
        "replica-crash",
        f"""load: {{model: closed, users: 8, duration: 30s, warmup: 2s}}
styles: [rest]
stack: {{replicas: 2, store: postgres, claim_lease: {LEASE_S}s}}
faults:
  - {{at: 5s, duration: 5s, target: payment-2, kind: pause}}
  - {{at: 7s, duration: 10s, target: order-2, kind: crash}}
  - {{at: 11s, duration: 4s, target: payment-2, kind: crash}}
expect:
  - zero: [lost, stuck, double_charges, unrefunded_charges, unpaid_confirmed, stock_not_conserved]
""",
    )
    document, stdout = run(path, tmp_path / "out")
    result = document["styles"]["rest"]
    assert {count: result["audit"]["counts"][count] for count in ZERO} == dict.fromkeys(ZERO, 0)
    assert result["audit"]["accepted"] > 0
    scenario_result = result["scenario"]
    assert all(fault["errors"] == [] for fault in scenario_result["faults"])
    assert all(check["passed"] for check in scenario_result["expectations"])
    # Orders kept completing through order-1 while order-2 was down.
    assert scenario_result["phases"]["during"]["orders_per_s"] > 0
    (takeover,) = scenario_result["takeovers"]
    assert takeover["replica"] == "order-2"
    assert takeover["killed_s"] == pytest.approx(7.0, abs=1.0)
    # The paused payment replica held some of order-2's sagas mid-flight when it was killed.
    assert takeover["left"] > 0, takeover
    # Its claims lapse within a lease of their last renewal (every third of it), and order-1's
    # recovery loop (every 2 s) then finishes them: before order-2 was back (10 s later).
    assert LEASE_S * 2 / 3 - 0.5 <= takeover["recovery_s"] <= 10, takeover
    assert takeover["still_open"] == 0
    assert document["scenario"]["stack"] == {
        "replicas": 2,
        "store": "postgres",
        "grpc_balancing": "proxy-l7",
        "claim_lease_s": LEASE_S,
    }
    assert "order-2 killed at" in stdout and "after the kill" in stdout


@pytest.mark.timeout(300)
def test_the_balancing_scenario_records_and_checks_each_replicas_share(tmp_path: Path) -> None:
    """The shipped file, shortened, in gRPC (each call balanced by the proxy at L7: a share is
    expected) and WebSocket (pinned per socket: the share is recorded, not expected)."""
    out = tmp_path / "out"
    document, stdout = run(
        SCENARIOS / "balancing.yaml", out, "--styles", "grpc,websocket", "--time-scale", "0.5"
    )
    for style in ("grpc", "websocket"):
        result = document["styles"][style]
        assert {c: result["audit"]["counts"][c] for c in ZERO} == dict.fromkeys(ZERO, 0), style
        spread = result["scenario"]["replicas"]
        for service in ("order", "inventory", "payment", "notification"):
            replicas = spread[service]
            assert sorted(replicas) == [f"{service}-1", f"{service}-2"], (style, service)
            assert sum(r["requests"] for r in replicas.values()) > 0, (style, service)
            assert sum(r["share"] for r in replicas.values()) == pytest.approx(1.0, abs=0.01)
        assert result["scenario"].get("takeovers", []) == []  # nothing was killed
    grpc_checks = document["styles"]["grpc"]["scenario"]["expectations"]
    shares = [check for check in grpc_checks if "share" in check["check"]]
    assert len(shares) == 4  # inventory-1, inventory-2, payment-1, payment-2
    assert all(check["passed"] and check["seen"] >= 0.3 for check in shares), shares
    ws_checks = document["styles"]["websocket"]["scenario"]["expectations"]
    assert not [check for check in ws_checks if "share" in check["check"]]
    assert "grpc: inventory requests per replica: inventory-1" in stdout
