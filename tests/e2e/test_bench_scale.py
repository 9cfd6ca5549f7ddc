"""`orderflow bench` beyond one machine's defaults: the load on Locust workers started apart from
the bench (`--master-bind`/`--expect-workers`, workers by `orderflow locust-worker`, as
docs/bench.md says), and the bench's own stack on PostgreSQL (`--store postgres`)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.bench.transactions import sqlite_ms
from harness.stack import postgres
from harness.stack.ports import free_ports
from harness.stack.supervisor import StackConfig
from services.kernel.config import SERVICES
from tests.e2e.test_bench import bench, results_of

pytestmark = pytest.mark.e2e

ORDERFLOW = Path(sys.executable).parent / "orderflow"  # the console script a user runs
RATE = 8.0
DURATION_S = 6


@contextlib.contextmanager
def workers(count: int, master: str, log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`orderflow locust-worker --master HOST:PORT`, `count` times, stopped (SIGTERM) after."""
    started: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as logs:
        try:
            for index in range(count):
                log = logs.enter_context((log_dir / f"worker-{index}.log").open("wb"))
                command = [str(ORDERFLOW), "locust-worker", "--master", master]
                started.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
            yield started
        finally:
            _stop(started)


def _stop(started: list[subprocess.Popen[bytes]]) -> None:
    for worker in started:
        worker.send_signal(signal.SIGTERM)
    for worker in started:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def assert_books_add_up(audit: dict[str, Any]) -> None:
    """Every count of the audit is 0, but the notification repeats: at-least-once delivery on a
    busy machine repeats some, each recognised and not sent again (harness/audit.py)."""
    counts = {k: v for k, v in audit["counts"].items() if k != "duplicate_notifications"}
    assert set(counts.values()) == {0}, audit


def samples_by_worker(folder: Path) -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in folder.glob("samples-*.json")}


def test_a_bench_on_two_workers_started_apart_keeps_its_results_whole(tmp_path: Path) -> None:
    (port,) = free_ports(1, "127.0.0.1")
    master = f"127.0.0.1:{port}"
    out = tmp_path / "run"
    with workers(2, master, tmp_path) as started:
        done = bench(
            "--styles", "rest", "--rate", f"{RATE:g}", "--users", "4",
            "--duration", f"{DURATION_S}s", "--calibration", "2s",
            "--master-bind", master, "--expect-workers", "2", "--out", str(out),
            timeout_s=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert all(worker.poll() is None for worker in started), "a worker ended with a phase"
    assert [worker.returncode for worker in started] == [0, 0]  # stopped on request
    document = results_of(out)
    run, result = document["run"], document["styles"]["rest"]
    assert run["remote_workers"] == 2 and run["store"] == "sqlite" and run["replicas"] == 1
    # Every phase's samples came from both workers, through the master, into the bench's folder.
    for phase in ("calibration", "load"):
        found = samples_by_worker(out / "rest" / f"samples-{phase}")
        assert len(found) == 2 and all(doc["samples"] for doc in found.values()), phase
    summary = result["summary"]
    assert summary["orders_completed"] > 0 and summary["error_rate"] == 0, result["operations"]
    # The open model's arrivals are shared by the workers, not repeated by each: the offered
    # tasks are the rate's, not twice it (arrivals never sent would count as failures).
    load = samples_by_worker(out / "rest" / "samples-load").values()
    names = Counter(sample[1] for doc in load for sample in doc["samples"])
    arrivals = sum(names.values()) - names["order_completed"]
    assert 0.6 * RATE * DURATION_S <= arrivals <= 1.4 * RATE * DURATION_S, names
    # The audit found every order the workers saw accepted, finished, with books that add up.
    audit = result["audit"]
    assert audit["accepted"] == summary["orders_completed"]
    assert_books_add_up(audit)
    # The stack's CPU is measured; the workers' cannot be, and the figures say so.
    cpu = result["cpu"]
    assert cpu["processes"]["locust"] is None and cpu["processes"]["order"] > 0
    assert set(cpu["not_attributed"]) == {"rabbitmq", "locust"}
    assert result["load_generator"]["remote_workers"] == 2
    assert result["calibration"]["load_generator"]["remote_workers"] == 2
    assert "users on 2 Locust workers" in done.stdout
    assert "not counted: locust: the users ran on Locust workers" in done.stdout
    assert "2 Locust workers started outside the bench" in (out / "report.md").read_text()


def test_a_bench_without_its_workers_fails_clearly(tmp_path: Path) -> None:
    """A worker short: Locust's master gives up waiting, and the bench says where to look."""
    (port,) = free_ports(1, "127.0.0.1")
    master = f"127.0.0.1:{port}"
    with workers(1, master, tmp_path):
        done = bench(
            "--styles", "rest", "--users", "2", "--duration", "2s", "--no-calibration",
            "--master-bind", master, "--expect-workers", "2", "--workers-wait", "3s",
            "--out", str(tmp_path / "run"),
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "locust exited" in done.stderr and "Gave up waiting for workers" in done.stderr


def postgres_names(names: set[str]) -> set[str]:
    """Which of `names` the machine's PostgreSQL has (other runs make and drop their own)."""
    try:
        with psycopg.connect(postgres.DEFAULT_ADMIN_URL, autocommit=True) as admin:
            query = "SELECT datname FROM pg_database WHERE datname = ANY(%s)"
            rows = admin.execute(query, (sorted(names),)).fetchall()
    except psycopg.OperationalError as error:
        pytest.fail(f"this test needs PostgreSQL at {postgres.DEFAULT_ADMIN_URL}: {error}")
    return {name for (name,) in rows}


def test_the_bench_runs_its_stack_on_postgresql_with_replicas_and_drops_its_databases(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    config = StackConfig(data_dir=out / "stack")
    ours = {config.database_name(service) for service in SERVICES}
    done = bench(
        "--styles", "rest", "--users", "3", "--duration", "3s", "--calibration", "2s",
        "--store", "postgres", "--replicas", "2", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    document = results_of(out)
    assert document["run"]["store"] == "postgres" and document["run"]["replicas"] == 2
    result = document["styles"]["rest"]
    assert result["summary"]["orders_completed"] > 0 and result["summary"]["error_rate"] == 0
    assert_books_add_up(result["audit"])
    # The store's CPU is its backends' (the services' with SQLite): counted, in a column.
    cpu = result["cpu"]
    assert cpu["processes"]["order"] > 0 and cpu["processes"]["postgresql"] > 0, cpu
    assert cpu["processes"]["proxy"] > 0, cpu  # HAProxy in front of the replicas: its share too
    # Requests per replica, read once a second: both inventory replicas served this run.
    last = result["telemetry"]["series"][-1]["replicas"]["inventory"]
    assert sorted(last) == ["inventory-1", "inventory-2"], last
    assert all(reading["requests"]["http"] > 0 for reading in last.values()), last
    assert set(cpu["not_attributed"]) == {"rabbitmq", "postgresql-shared"}
    assert "postgresql" in next(line for line in done.stdout.splitlines() if "no-op (ms)" in line)
    assert "own stack on PostgreSQL" in done.stdout
    assert "store PostgreSQL, 2 replicas per service" in (out / "report.md").read_text()
    # The bound prices a store transaction on PostgreSQL, the client's CPU and its backend's:
    # dearer than a bare SQLite one (the price a run on SQLite gives), and the report says so.
    priced = cpu["bound"]["transaction_ms"]
    assert priced > sqlite_ms(tmp_path / "sqlite-transaction"), cpu["bound"]
    assert "each store transaction a bare PostgreSQL one" in (out / "report.md").read_text()
    assert not list((out / "stack").glob("*.db"))  # no SQLite file: the services were on PG
    assert postgres_names(ours) == set()  # its databases were dropped after the run
