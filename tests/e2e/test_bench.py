"""`orderflow bench` as a user runs it: short runs through every style's real protocol, the
results folder it writes (validated against docs/results.schema.json), and its clear errors
when a target or a style's service is not there."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pika.exceptions
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from harness.bench.target import Target, TargetUnavailable, preflight, stack_targets
from harness.rabbit.admin import channel
from harness.stack.ports import free_ports
from harness.stack.supervisor import Stack
from harness.traces.orders import style_of
from harness.traces.spans import order_traces, read_folder
from services.kernel.broker.topology import Topology
from tests.e2e.conftest import MACHINE_BROKER

pytestmark = pytest.mark.e2e

STYLES = ("rest", "grpc", "graphql", "websocket", "broker")
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "results.schema.json").read_text())


def bench(
    *args: str, timeout_s: float = 200, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    default = {**os.environ, "ORDERFLOW_BROKER_URL": MACHINE_BROKER, "ORDERFLOW_PROFILE": "naive"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "bench", *args],
        env=env or default,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def results_of(folder: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((folder / "results.json").read_text())
    errors = sorted(Draft202012Validator(SCHEMA).iter_errors(document), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    return document


def assert_plausible_cpu(style: str, result: dict[str, Any], folder: Path) -> None:
    """Each process of the stack the bench started used some CPU per order, not seconds; the
    total is the sum of its parts; the no-op's cost gives a bound below the measured cost."""
    cpu = result["cpu"]
    assert cpu["orders"] == result["summary"]["orders_completed"], style
    parts = cpu["processes"]
    assert set(parts) == {"order", "inventory", "payment", "notification", "locust"}, style
    # /proc counts whole clock ticks (10 ms), which a quiet service may not reach in a short
    # run: each part is at least 0; the order service and Locust do real work every order.
    assert all(0 <= ms < 1000 for ms in parts.values()), (style, parts)
    assert parts["order"] > 0 and parts["locust"] > 0, (style, parts)
    assert cpu["total_ms"] == pytest.approx(sum(parts.values()), abs=0.01), style
    assert set(cpu["not_attributed"]) == {"rabbitmq"}  # the machine's broker: not ours to count
    noop = result["calibration"]["cpu_ms_per_call"]
    assert noop["client_ms"] > 0 and noop["server_ms"] >= 0, (style, noop)
    if style != "broker":  # the broker's no-op is served by RabbitMQ alone
        assert noop["server_ms"] > 0, (style, noop)
    # The no-op ran again after the load, as long; the bound prices the mean of both.
    after = result["calibration"]["after_load"]
    assert after["per_s"] > 0 and after["error_rate"] == 0, (style, after)
    before = result["calibration"]["cpu_ms_per_call_before_load"]
    for side in ("server_ms", "client_ms"):
        mean = (before[side] + after["cpu_ms_per_call"][side]) / 2
        assert noop[side] == pytest.approx(mean, abs=0.001), (style, side)
    assert (folder / "after-load" / "calibration_stats.csv").is_file(), style
    bound = cpu["bound"]
    assert bound["noop_ms"] == pytest.approx(noop["server_ms"] + noop["client_ms"], abs=0.002)
    assert 0 < cpu["bound_fraction"] < 1.5, (style, cpu)
    assert isinstance(result["calibration"]["load_generator_limited"], bool)


@pytest.mark.timeout(240)
def test_a_short_closed_run_of_every_style_completes_orders_without_errors(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "ORDERFLOW_BROKER_URL": MACHINE_BROKER, "ORDERFLOW_PROFILE": "naive"}
    # Every order traced (--traces alone samples one in ten): each style has its waterfalls.
    args = ["--duration", "3s", "--calibration", "2s", "--users", "4", "--traces", "1"]
    args += ["--out", str(out)]
    done = bench(*args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    document = results_of(out)
    assert list(document["styles"]) == list(STYLES)
    assert document["run"]["model"] == "closed" and document["run"]["profile"] == "naive"
    assert document["run"]["target"].startswith("own stack (broker namespace bench-")
    for style, result in document["styles"].items():
        summary = result["summary"]
        assert summary["orders_completed"] > 0, style
        assert summary["error_rate"] == 0, (style, result["operations"])
        assert set(result["operations"]) == {
            "browse_catalog",
            "place_order",
            "get_order",
            "order_completed",
        }, style
        assert result["calibration"]["per_s"] > 0 and result["calibration"]["error_rate"] == 0
        assert result["per_second"] and result["load_generator"]["cpu_s"] > 0
        # Locust's own CSV files with their per-second history sit beside the results.
        assert (out / style / "load_stats_history.csv").stat().st_size > 0, style
        # The audit after its load: every order it placed is there, finished, and the books
        # (this style's orders and payments, the shared stock) add up.
        audit = result["audit"]
        assert audit["accepted"] == summary["orders_completed"], style
        assert set(audit["counts"].values()) == {0}, (style, audit)
        assert_plausible_cpu(style, result, out / style)
        assert_sampled(style, result["telemetry"])
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["style", "req/s"])
    cpu_title = lines.index("CPU-ms per completed order (the mix's browse and look-up included)")
    assert [line.split()[0] for line in lines[cpu_title + 3 : cpu_title + 8]] == list(STYLES)
    assert [line.split()[0] for line in lines[header + 2 : header + 7]] == list(STYLES)
    # Its last words name the report it wrote beside the results (docs/report.md).
    assert lines[-2:] == [f"Report: {out / 'report.html'}", f"        {out / 'report.md'}"]
    page = (out / "report.html").read_text()
    # The bars, a timeline, a figure of waterfalls (its spans traced) and one of the patterns
    # at work per style.
    assert page.count("<svg") == 1 + 3 * len(STYLES) and '<section id="audit">' in page
    assert '<section id="telemetry">' in page
    assert '<section id="trace-breakdown">' in page
    assert_traced(out)
    assert (out / "report.md").read_text().startswith("# orderflow report: plain bench\n")
    # It ran its own stack under the results folder, and removed its broker namespace after.
    databases = {path.name for path in (out / "stack").glob("*.db")}
    assert databases == {"order.db", "inventory.db", "payment.db", "notification.db"}
    namespace = document["run"]["target"].removeprefix("own stack (broker namespace ")[:-1]
    with pytest.raises(pika.exceptions.ChannelClosedByBroker), channel(MACHINE_BROKER) as ch:
        ch.queue_declare(Topology(namespace).queue("order"), passive=True)


def assert_sampled(style: str, telemetry: dict[str, Any]) -> None:
    """Every service of the stack read about once a second over the 3 s load (Locust's 3 s
    include its start: two readings at least): each answered, with its memory and, from the
    second reading on, the CPU it used; the order service's outbox and notifications owed
    among its patterns."""
    series = telemetry["series"]
    times = [point["t"] for point in series]
    assert len(series) >= 2 and abs(times[0]) < 1.0, (style, times)  # from the load's start
    assert all(0.5 < b - a < 2.5 for a, b in itertools.pairwise(times)), (style, times)
    for point in series:
        services = point["services"]
        assert set(services) == {"order", "inventory", "payment", "notification"}, style
        assert all(reading["answered"] for reading in services.values()), (style, point)
        assert all(reading["rss_mb"] > 10 for reading in services.values()), (style, point)
    assert all(reading["cpu_cores"] is not None for reading in series[1]["services"].values())
    assert sum(point["services"]["order"]["cpu_cores"] or 0 for point in series) > 0, style
    assert {"outbox_backlog", "notifications_owed"} <= set(series[-1]["services"]["order"])


def assert_traced(out: Path) -> None:
    """Each service and each Locust process wrote its spans into the results folder; every
    style's orders are traces rooted at the Locust user's request; `orderflow trace` prints an
    order's waterfall from them."""
    folder = out / "traces"
    names = {path.name for path in folder.glob("*.jsonl")}
    services = {"order.jsonl", "inventory.jsonl", "payment.jsonl", "notification.jsonl"}
    assert services < names and all(n.startswith("locust-") for n in names - services), names
    traces = order_traces(read_folder(folder))
    for style in STYLES:
        begun = [t for t in traces.values() if style_of(t) == style]
        assert begun, f"no {style} order's trace begins at its client"
        for trace in begun:
            (root,) = [span for span in trace if not span.parent_id]
            assert (root.service, root.name) == ("locust", f"{style} place_order")
            # Every order reserves (a rejected one never reaches payment).
            assert {"order", "inventory"} <= {span.service for span in trace}
            assert any(span.name.startswith("transaction ") for span in trace), style
    order_id = next(iter(traces))
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "trace", order_id, "--results", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("trace ") and "order" in done.stdout


@pytest.mark.timeout(240)
def test_the_variants_run_beside_their_style_and_the_report_compares_them(
    tmp_path: Path,
) -> None:
    """rest-sse (REST's saga answered 202, the outcome from the status stream) and broker-amqp
    (the order.place command over AMQP) through the real stack, each its own row."""
    out = tmp_path / "run"
    styles = ("rest", "rest-sse", "broker-amqp")
    args = ("--styles", ",".join(styles), "--duration", "3s", "--calibration", "2s")
    done = bench(*args, "--users", "3", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    document = results_of(out)
    assert tuple(document["styles"]) == styles
    for style, result in document["styles"].items():
        summary = result["summary"]
        assert summary["orders_completed"] > 0 and summary["error_rate"] == 0, style
        audit = result["audit"]  # audited as the style it measures: every order found, finished
        assert audit["accepted"] == summary["orders_completed"], style
        assert set(audit["counts"].values()) == {0}, (style, audit)
    variants = (out / "report.md").read_text().split("## Variants beside their style")[1]
    assert "| rest-sse | rest |" in variants  # broker-amqp ran without broker: no row
    assert "| broker-amqp |" not in variants.split("## ")[0]


@pytest.mark.timeout(240)
def test_a_private_broker_is_counted_and_prices_the_brokers_no_op(tmp_path: Path) -> None:
    """--private-broker: the stack runs on a RabbitMQ node of the run's own, whose CPU is a
    process of the figures (and the server side of the broker's no-op), stopped at the end."""
    out = tmp_path / "run"
    args = ("--styles", "rest,broker", "--duration", "3s", "--calibration", "2s")
    done = bench(*args, "--users", "3", "--private-broker", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Starting a private RabbitMQ node" in done.stdout
    document = results_of(out)
    assert document["run"]["broker"] == "private"
    for style, result in document["styles"].items():
        cpu = result["cpu"]
        assert cpu["not_attributed"] == {}, style
        assert "rabbitmq" in cpu["processes"], style
        assert cpu["total_ms"] == pytest.approx(sum(cpu["processes"].values()), abs=0.01)
        assert set(result["audit"]["counts"].values()) == {0}, (style, result["audit"])
    broker = document["styles"]["broker"]
    # Every broker order is a dozen messages through RabbitMQ: real work, counted.
    assert broker["cpu"]["processes"]["rabbitmq"] > 0, broker["cpu"]
    # The broker's no-op is a round trip through RabbitMQ alone: now its server side has a cost.
    assert broker["calibration"]["cpu_ms_per_call"]["server_ms"] > 0, broker["calibration"]
    cpu_title = "CPU-ms per completed order (the mix's browse and look-up included)"
    header = done.stdout.split(cpu_title)[1].splitlines()[1].split()
    assert header[:7] == [
        "style", "order", "inventory", "payment", "notification", "locust", "rabbitmq",
    ]  # fmt: skip
    assert "not counted: rabbitmq" not in done.stdout
    assert not node_running(out / "broker"), "the run's RabbitMQ node outlived the run"


def test_a_private_broker_that_cannot_start_fails_the_bench_clearly(tmp_path: Path) -> None:
    """--private-broker on a machine without RabbitMQ (no `erl` on PATH): exit 1 with the
    reason, before any stack or load, and no results."""
    out = tmp_path / "run"
    bare_path = str(Path(sys.executable).parent)  # this venv's tools, no Erlang
    env = {
        **os.environ,
        "ORDERFLOW_BROKER_URL": MACHINE_BROKER,
        "ORDERFLOW_PROFILE": "naive",
        "PATH": bare_path,
    }
    done = bench("--styles", "rest", "--private-broker", "--out", str(out), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "orderflow bench: RabbitMQ is not installed" in done.stderr
    # The node comes first: no service was started (none wrote a log), no load ran.
    assert "Starting the stack" not in done.stdout and not (out / "stack" / "logs").exists()
    assert not (out / "results.json").exists()
    assert not node_running(out / "broker")


def node_running(data_dir: Path) -> bool:
    """Whether a process still runs with `data_dir` in its command line (the node's Erlang VM
    names its data and log folders there)."""
    for process in Path("/proc").iterdir():
        if process.name.isdigit():
            with contextlib.suppress(OSError):
                if str(data_dir).encode() in (process / "cmdline").read_bytes():
                    return True
    return False


@pytest.mark.timeout(240)
def test_an_open_run_and_a_capacity_search(tmp_path: Path) -> None:
    out = tmp_path / "open"
    done = bench(
        "--styles", "rest,broker", "--rate", "20", "--duration", "3s",
        "--no-calibration", "--profile", "resilient", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    document = results_of(out)
    assert document["run"]["model"] == "open" and document["run"]["rate"] == 20
    assert document["run"]["profile"] == "resilient"
    assert "Starting the stack (resilient profile;" in done.stdout
    assert "; untraced" in done.stdout and not (out / "traces").exists()  # without --traces
    for style in ("rest", "broker"):
        result = document["styles"][style]
        assert result["calibration"] is None
        # 20 arrivals/s for 3 s in a 4:4:2 mix: about 24 orders (and their first-lookups).
        assert 10 <= result["summary"]["orders_completed"] <= 45, result["summary"]
        assert result["summary"]["error_rate"] == 0

    out = tmp_path / "capacity"
    done = bench(
        "--styles", "rest", "--find-capacity", "--start-rate", "5", "--max-rate", "8",
        "--step", "2s", "--no-calibration", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    capacity = results_of(out)["capacity"]
    steps = capacity["styles"]["rest"]["steps"]
    assert [step["rate"] for step in steps] == [5, 7.5]  # the next, 11.2/s, is over --max-rate
    assert all(step["held"] for step in steps), steps
    assert capacity["styles"]["rest"]["held_rate"] == 7.5 and capacity["slo_p99_ms"] == 250


def test_an_unreachable_target_is_a_clear_error(tmp_path: Path) -> None:
    [port] = free_ports(1, "127.0.0.1")
    done = bench("--target", f"http://127.0.0.1:{port}", "--out", str(tmp_path), timeout_s=60)
    assert done.returncode == 1
    refused = f"rest cannot run: the order service does not answer at http://127.0.0.1:{port}/ready"
    assert refused in done.stderr
    assert not (tmp_path / "results.json").exists()


def test_a_style_that_cannot_run_fails_the_run_before_any_style_runs(
    stack: Stack, tmp_path: Path
) -> None:
    # The running stack's addresses, but a broker namespace nothing consumes.
    env = stack.config.environment(os.environ) | {"ORDERFLOW_BROKER_NAMESPACE": "nobody-here"}
    args = ("--target", stack.url("order"), "--styles", "rest,broker", "--out", str(tmp_path))
    done = bench(*args, env=env, timeout_s=60)
    assert done.returncode == 1
    assert "broker cannot run: the broker has no queue nobody-here.order" in done.stderr
    assert not (tmp_path / "rest").exists()  # REST, though it could run, did not start


def test_invalid_arguments_exit_2_naming_the_flag() -> None:
    done = bench("--styles", "rest,soap", timeout_s=60)
    assert done.returncode == 2 and "--styles: unknown ['soap']" in done.stderr


def stack_target(stack: Stack, **changes: str) -> Target:
    env = stack.config.extra_env
    targets = stack_targets(stack, env["ORDERFLOW_BROKER_URL"], env["ORDERFLOW_BROKER_NAMESPACE"])
    return Target(dataclasses.replace(targets, **changes), "test")


def test_preflight_names_the_part_a_style_is_missing(stack: Stack) -> None:
    for style in STYLES:
        preflight(stack_target(stack), style)  # the whole stack is up: every style may run
    [closed] = free_ports(1, "127.0.0.1")
    no_grpc = stack_target(stack, order_grpc=f"127.0.0.1:{closed}")
    preflight(no_grpc, "rest")  # REST does not need it
    with pytest.raises(
        TargetUnavailable,
        match=f"grpc cannot run: order's gRPC server does not answer at .*{closed}",
    ):
        preflight(no_grpc, "grpc")
    with pytest.raises(
        TargetUnavailable,
        match=re.escape("broker cannot run: the broker has no queue nobody-here.order"),
    ):
        preflight(stack_target(stack, namespace="nobody-here"), "broker")


def test_preflight_sees_a_queue_nobody_consumes(stack: Stack) -> None:
    topology = Topology("bench-test-orphan")
    with channel(MACHINE_BROKER) as ch:
        ch.queue_declare(topology.queue("order"), auto_delete=False)
    try:
        with pytest.raises(
            TargetUnavailable,
            match=re.escape("broker cannot run: nothing consumes bench-test-orphan.order"),
        ):
            preflight(stack_target(stack, namespace="bench-test-orphan"), "broker")
    finally:
        with contextlib.suppress(pika.exceptions.AMQPError), channel(MACHINE_BROKER) as ch:
            ch.queue_delete(topology.queue("order"))
