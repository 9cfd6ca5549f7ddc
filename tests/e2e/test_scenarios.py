"""Fault scenarios as a user runs them (`orderflow bench <file>.yaml`), in short forms: the broker
style loses nothing when payment crashes or when the broker itself is down (and its HTTP front
keeps accepting orders meanwhile); REST under the
resilient profile fails fast with its breaker open and leaves nothing stuck; every other fault
kind demonstrably happens and is cleared; a scenario file with a mistake is refused.

Each run goes through the real stack on a fresh store, real Locust load, real process signals and
a private RabbitMQ node for the outage, then the audit across the services' stores.

The runs whose checks are counts and events (nothing lost, a service seen down and back, a queue
that grew) start in the background two at a time, as soon as the first of their tests asks: a run
leaves much of a 2-core machine idle (a service starting alone, Locust starting, the audit
waiting, the report drawn), which the other run then uses. The tests whose checks are latencies
(a p99 under a bound, a fault's milliseconds seen in one second's samples) wait until those are
done and run alone, as before.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.vocabulary import AUDIT_COUNTS
from tests.e2e.conftest import MACHINE_BROKER
from tests.e2e.test_bench import bench, results_of

pytestmark = pytest.mark.e2e

# Every count but the repeats that reached notification (redelivery at work, not a fault).
ZERO = [count for count in AUDIT_COUNTS if count != "duplicate_notifications"]
SHIPPED = Path(__file__).parents[2] / "scenarios"
RUNS_AT_ONCE = 2  # the machine's cores (CI's has 2)


def scenario(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\ndescription: a short form for the tests\n{body}")
    return path


def run(
    path: Path, out: Path, *args: str, timeout_s: float = 300, env: dict[str, str] | None = None
) -> dict[str, Any]:
    done = bench(str(path), "--out", str(out), *args, timeout_s=timeout_s, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results_of(out)  # valid against docs/results.schema.json


def audit_counts(result: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = result["audit"]["counts"]
    return counts


def in_window(result: dict[str, Any], operation: str, start_s: float, end_s: float) -> list[int]:
    """The sample counts of each second of [start_s, end_s) for one operation."""
    seconds = result["per_second"][int(start_s) : int(end_s)]
    return [s["operations"].get(operation, {}).get("count", 0) for s in seconds]


def starts_in_log(out: Path, style: str, service: str) -> int:
    log = (out / style / "stack" / "logs" / f"{service}.log").read_text()
    return log.count(f"orderflow supervisor: starting {service}")


@dataclass(frozen=True)
class Run:
    """The scenario run one test checks: a short form written for it (`body`, the file after
    its name and description) or a shipped file, with bench's extra arguments."""

    name: str
    body: str = ""
    shipped: str = ""
    args: tuple[str, ...] = ()

    def __call__(self, folder: Path) -> tuple[dict[str, Any], Path]:
        path = (
            SHIPPED / f"{self.shipped}.yaml"
            if self.shipped
            else scenario(folder, self.name, self.body)
        )
        out = folder / "out"
        return run(path, out, *self.args), out


# The runs checked by counts and events, by the test that checks each; they run at once.
AT_ONCE = {
    "test_the_broker_style_loses_nothing_when_payment_crashes": Run(
        "payment-outage",
        """load: {model: closed, users: 5, duration: 18s, warmup: 2s}
styles: [broker]
faults:
  - {at: 5s, duration: 5s, target: payment, kind: crash}
expect:
  - zero: [lost, stuck, double_charges, unrefunded_charges, unpaid_confirmed, stock_not_conserved]
""",
    ),
    "test_the_broker_style_loses_nothing_when_the_broker_is_down": Run(
        "broker-outage",
        """load: {model: closed, users: 5, duration: 24s, warmup: 2s}
styles: [broker]
faults:
  - {at: 5s, duration: 5s, target: broker, kind: outage}
expect:
  - zero: [lost, stuck, double_charges, unrefunded_charges, unpaid_confirmed, stock_not_conserved]
""",
    ),
    # The shipped file at half its length.
    "test_the_front_keeps_accepting_orders_while_the_broker_is_down": Run(
        "front-broker-outage", shipped="front-broker-outage", args=("--time-scale", "0.5")
    ),
    "test_every_customer_is_told_after_a_notification_outage": Run(
        "notification-outage",
        """load: {model: closed, users: 5, duration: 16s, warmup: 2s}
styles: [rest]
faults:
  - {at: 4s, duration: 6s, target: notification, kind: crash}
expect:
  - zero: [lost, stuck, missing_notifications]
    min_success_ratio: {during: 0.95}
""",
    ),
}


class Background:
    """The AT_ONCE runs this session selected, RUNS_AT_ONCE at a time, in the file's order."""

    def __init__(self, folders: pytest.TempPathFactory, tests: list[str]) -> None:
        self.pool = ThreadPoolExecutor(RUNS_AT_ONCE, thread_name_prefix="scenario-run")
        self.runs: dict[str, Future[tuple[dict[str, Any], Path]]] = {
            test: self.pool.submit(AT_ONCE[test], folders.mktemp(AT_ONCE[test].name))
            for test in tests
        }

    def result(self, test: str) -> tuple[dict[str, Any], Path]:
        """The test's results document and folder, once its run is over (or what failed)."""
        return self.runs[test].result()

    def drain(self) -> None:
        """Returns once none of the runs is running: a test measuring latencies runs alone."""
        for running in self.runs.values():
            running.exception()  # waits; what failed is for its own test to raise

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def background(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Background]:
    selected = {
        item.originalname
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module
    }
    running = Background(tmp_path_factory, [test for test in AT_ONCE if test in selected])
    yield running
    running.close()


Ran = Callable[[], tuple[dict[str, Any], Path]]


@pytest.fixture
def ran(background: Background, request: pytest.FixtureRequest) -> Ran:
    """The results document and folder of the requesting test's run, waited for when called (a
    run that failed then fails its test, not the test's setup)."""
    return functools.partial(background.result, request.node.originalname)


@pytest.fixture
def alone(background: Background) -> None:
    """The background runs are over: nothing else loads the machine during this test's run."""
    background.drain()


@pytest.mark.timeout(300)
def test_the_broker_style_loses_nothing_when_payment_crashes(ran: Ran) -> None:
    document, out = ran()
    result = document["styles"]["broker"]
    fault = result["scenario"]["faults"][0]
    assert fault["began_s"] == pytest.approx(5.0, abs=1.0) and fault["ended_s"] >= 10.0
    assert fault["errors"] == []
    assert starts_in_log(out, "broker", "payment") == 2  # gone, and back
    assert set(audit_counts(result).values()) == {0}, result["audit"]
    assert result["audit"]["accepted"] > 0
    assert all(check["passed"] for check in result["scenario"]["expectations"])
    # The commands for payment waited in its queue while it was down, then were served.
    assert result["scenario"]["broker"]["max_depth"]["payment"] > 0
    assert result["scenario"]["phases"]["after"]["operations"]["order_completed"][
        "success_ratio"
    ] == pytest.approx(1.0, abs=0.01)
    assert document["scenario"]["name"] == "payment-outage"
    # The report shades the crash where it really was, in each panel of broker's chart.
    page = (out / "report.html").read_text()
    assert len(re.findall(r'<g id="fault-broker-\d-0">', page)) == 3  # latency, load, queues


@pytest.mark.timeout(300)
def test_the_broker_style_loses_nothing_when_the_broker_is_down(ran: Ran) -> None:
    document, out = ran()
    result = document["styles"]["broker"]
    fault = result["scenario"]["faults"][0]
    assert (fault["errors"], fault["params"]) == ([], {"how": "kill"})
    assert fault["ended_s"] >= 10.0
    broker = result["scenario"]["broker"]
    assert broker["unreachable_s"] >= 3  # down: the watcher could not reach it ...
    assert broker["series"][-1]["depths"] is not None  # ... and up again
    # The services' own view, sampled each second: their links down while the broker was (well
    # inside the outage: a link notices a killed broker at once), and whatever waited in an
    # outbox meanwhile relayed by the end.
    series = result["telemetry"]["series"]
    down = [p["services"] for p in series if fault["began_s"] + 1 <= p["t"] < fault["planned_s"][1]]
    assert down and all(r.get("broker_connected") != 1 for s in down for r in s.values()), down
    # Drained: a reading after the outage with every outbox empty. Not necessarily the last:
    # the load goes on to the end, and an event committed just before a reading waits for it.
    after = [p["services"] for p in series if p["t"] >= fault["planned_s"][1]]
    backlogs = [{name: r["outbox_backlog"] for name, r in s.items()} for s in after]
    assert any(not any(b.values()) for b in backlogs), backlogs
    node_log = (out / "broker" / "logs" / "broker.log").read_text()
    assert node_log.count("orderflow: starting") == 2  # the private node, killed and restarted
    assert set(audit_counts(result).values()) == {0}, result["audit"]
    assert result["audit"]["accepted"] > 0


@pytest.mark.timeout(300)
def test_the_front_keeps_accepting_orders_while_the_broker_is_down(ran: Ran) -> None:
    """The shipped scenarios/front-broker-outage.yaml at half its length: the broker style's
    shop places through the asynchronous HTTP front; with the broker (the run's private node)
    killed, POST /orders still answers 202 (the outbox holds order.placed), and every order
    accepted then completes once the broker is back."""
    document, out = ran()
    result = document["styles"]["broker"]
    fault = result["scenario"]["faults"][0]
    assert fault["errors"] == [] and result["scenario"]["broker"]["unreachable_s"] >= 2
    node_log = (out / "broker" / "logs" / "broker.log").read_text()
    assert node_log.count("orderflow: starting") == 2  # the private node, killed and restarted
    # Well inside the outage, orders were still accepted, and none refused.
    inside = result["per_second"][int(fault["began_s"]) + 1 : int(fault["ended_s"]) - 1]
    placed = [s["operations"]["place_order"] for s in inside if "place_order" in s["operations"]]
    assert sum(p["count"] for p in placed) > 0, inside
    assert sum(p["failures"] for p in placed) == 0, inside
    # ... and every one of them completed, after the broker came back.
    during = result["scenario"]["phases"]["during"]["operations"]["order_completed"]
    assert during["success_ratio"] == 1.0, during
    assert set(audit_counts(result).values()) == {0}, result["audit"]
    assert result["audit"]["accepted"] > 0
    assert all(check["passed"] for check in result["scenario"]["expectations"])


@pytest.mark.timeout(300)
def test_every_customer_is_told_after_a_notification_outage(ran: Ran) -> None:
    """The shipped scenario in short: orders go on while notification is down, what is owed
    piles up in the order service (sampled each second) and drains, nobody is left untold."""
    document, out = ran()
    result = document["styles"]["rest"]
    assert starts_in_log(out, "rest", "notification") == 2  # gone, and back
    counts = audit_counts(result)
    assert [counts[name] for name in ZERO] == [0] * len(ZERO), result["audit"]
    assert all(check["passed"] for check in result["scenario"]["expectations"])
    broker = result["scenario"]["broker"]
    assert broker["max_notifications_owed"] > 0  # the customers of the outage were owed ...
    assert broker["series"][-1]["notifications_owed"] == 0  # ... and told before the audit


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("alone")
def test_rest_under_the_resilient_profile_fails_fast_with_the_breaker_open(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "payment-outage",
        """load: {model: closed, users: 5, duration: 18s, warmup: 2s}
styles: [rest]
profile: resilient
faults:
  - {at: 5s, duration: 6s, target: payment, kind: crash}
""",
    )
    out = tmp_path / "out"
    # Half the orders traced (not all: the test's p99 is timing-sensitive on a busy machine),
    # so some of the dozens in flight during the crash surely are.
    every = {**os.environ, "ORDERFLOW_BROKER_URL": MACHINE_BROKER}
    document = run(path, out, "--traces", "0.5", env=every)
    assert document["run"]["profile"] == "resilient"
    result = document["styles"]["rest"]
    # The sampler saw it: payment silent and order's breaker on it open during the crash, and
    # closed again after; the report draws it, and an order traced during the fault.
    crash = result["scenario"]["faults"][0]
    # Until the planned restart: after it, payment answers /metrics before it is ready.
    began, restarted = crash["began_s"], crash["planned_s"][1]
    series = result["telemetry"]["series"]
    during = [p["services"] for p in series if began + 1 <= p["t"] < restarted]
    assert during and not any(services["payment"]["answered"] for services in during)
    assert any(services["order"]["breakers"]["payment"] == 2 for services in during), during
    answered = [p["services"]["order"] for p in series if p["services"]["order"]["answered"]]
    assert answered[-1]["breakers"]["payment"] == 0
    page = (out / "report.html").read_text()
    assert '<section id="telemetry">' in page and "order → payment" in page
    assert '<section id="fault-traces">' in page and "rest: an order begun at " in page
    during = result["scenario"]["phases"]["during"]["operations"]["order_completed"]
    assert during["success_ratio"] < 0.5  # payment is down: the orders fail ...
    assert during["p99_ms"] < 1000.0  # ... fast, none waiting out a timeout
    order_log = (out / "rest" / "stack" / "logs" / "order.log").read_text()
    assert "circuit breaker for payment is now open" in order_log
    assert "circuit breaker for payment is now closed" in order_log  # and a probe closed it
    counts = audit_counts(result)
    assert {name: counts[name] for name in ZERO} == dict.fromkeys(ZERO, 0), result["scenario"]
    # Browsing the catalog never needed payment: the outage did not reach it.
    spared = result["scenario"]["blast_radius"]["operations"]["browse_catalog"]
    assert spared["success_ratio_during"] == 1.0


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("alone")
def test_every_other_fault_kind_happens_and_is_cleared(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "fault-kinds",
        """load: {model: open, rate: 30, duration: 24s, warmup: 2s}
styles: [broker]
faults:
  - {at: 3s, duration: 3s, target: payment, kind: latency, operation: payment.charge,
     latency_ms: 400}
  - {at: 3s, duration: 3s, target: broker, kind: poison, rate: 10}
  - {at: 3s, duration: 6s, target: notification, kind: slow-consumer, latency_ms: 5000}
  - {at: 10s, duration: 3s, target: load, kind: spike, factor: 3}
  - {at: 14s, duration: 2s, target: inventory, kind: pause}
  - {at: 17s, duration: 3s, target: order, kind: slow-start}
""",
    )
    out = tmp_path / "out"
    result = run(path, out)["styles"]["broker"]
    section = result["scenario"]
    assert [f["errors"] for f in section["faults"]] == [[]] * 6
    samples = result["per_second"]
    # latency: orders due while payment.charge was slowed took 400 ms more; not after.
    slowed = [s["operations"]["order_completed"]["p50_ms"] for s in samples[3:6]]
    assert min(slowed) >= 400.0
    assert samples[8]["operations"]["order_completed"]["p50_ms"] < 400.0
    # poison: every malformed message published ended in the order service's DLQ.
    published = section["broker"]["poison_published"]
    assert published >= 20 and section["broker"]["dead_lettered"]["order"] == published
    # slow consumer: notification's queue grew while it was slowed, and drained. (The depth is
    # what waits beyond the 32 deliveries a consumer holds: ~12 orders/s x 5 s is more.)
    assert section["broker"]["max_depth"]["notification"] >= 10
    assert section["broker"]["series"][-1]["depths"]["notification"] == 0
    # spike: three times the arrivals in its window.
    tasks = ("browse_catalog", "place_order", "get_order")
    base = sum(sum(in_window(result, op, 6, 9)) for op in tasks)
    spike = sum(sum(in_window(result, op, 10, 13)) for op in tasks)
    assert spike >= 2.5 * base
    # pause: browsing (inventory) hung until it was resumed, then answered again.
    browse = [s["operations"]["browse_catalog"] for s in samples[14:16]]
    assert max(b["max_ms"] for b in browse) >= 1000.0
    assert samples[16]["operations"]["browse_catalog"]["max_ms"] < 1000.0
    # slow start: the order service took its 3 s to boot before the fault ended.
    slow_start = section["faults"][5]
    assert slow_start["ended_s"] - slow_start["began_s"] >= 3.0
    order_log = (out / "broker" / "stack" / "logs" / "order.log").read_text()
    assert "delaying start-up by 3s" in order_log
    counts = audit_counts(result)
    assert (counts["lost"], counts["stuck"]) == (0, 0), result["audit"]


def test_a_scenario_file_with_a_mistake_is_refused_with_its_line_and_field(
    tmp_path: Path,
) -> None:
    path = scenario(
        tmp_path,
        "broken",
        """load:
  model: closed
  users: many
  duration: 20s
""",
    )
    done = bench(str(path), timeout_s=60)
    assert done.returncode == 2
    assert f"{path}:5: load.users:" in done.stderr and "many" in done.stderr
    fine = scenario(tmp_path, "fine", "load: {model: closed, users: 2, duration: 5s}\n")
    flagged = bench(str(fine), "--users", "3", timeout_s=60)
    assert flagged.returncode == 2 and "--users: the scenario file sets the load" in flagged.stderr
