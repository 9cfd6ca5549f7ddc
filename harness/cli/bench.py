"""`orderflow bench`: every style in turn under identical load, then one results folder and a
side-by-side table. See DESCRIPTION (the sub-command's --help) and docs/bench.md."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import shlex
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from harness import audit
from harness.bench import cost, results, table, transactions
from harness.bench.cpu import Reading
from harness.bench.options import (
    BenchPlan,
    InvalidArguments,
    add_arguments,
    plan,
    scenario_styles,
)
from harness.bench.phase import measured_phase, not_attributed
from harness.bench.results_scenario_model import AuditError
from harness.bench.runner import Load, LocustFailed, PhaseRun, open_pool
from harness.bench.target import (
    OwnBroker,
    StackShape,
    Target,
    TargetUnavailable,
    own_stack,
    preflight,
    running_target,
)
from harness.rabbit.node import BrokerError, PrivateBroker
from harness.report import write_report
from harness.scenarios import run as scenarios
from harness.scenarios.scale import scaled
from harness.scenarios.spec import ScenarioError, load_scenario
from harness.stack.ports import PortInUse
from harness.stack.postgres import PostgresUnavailable
from harness.stack.supervisor import StartupFailed
from harness.telemetry.sampler import TelemetrySampler
from harness.traces import collect as traces
from harness.vocabulary import STYLES, style_of
from services.kernel.config import ConfigError, Settings

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run", "short_run"]

AFTER_LOAD_LABEL = "no-op again"  # the progress line of the no-op run after the load
HELP = "measure every style under the same load (Locust) and compare them"
DESCRIPTION = """\
Runs Locust against every style in turn (rest, grpc, graphql, websocket, broker) under the same
load, and writes a results folder: results.json (schema: docs/results.schema.json), Locust's
CSV files with their per-second history, and each Locust run's log. Prints a side-by-side table
and each style's CPU-ms per completed order (each service and Locust, from /proc; RabbitMQ only
with --private-broker) with the fraction of the bound its no-op's cost allows, then writes the
run's report beside results.json: report.html and report.md (orderflow report).

Load models:
  --users N            closed model: N users, each starting its next task when one ends
  --rate R             open model: R task arrivals per second across all users, latency counted
                       from each task's due time (a stalled system cannot hide its stall)
Each style first runs its no-op (--calibration, the transport's ceiling on this machine), then
the shopping mix (browse the catalog 4, place an order 4, look one up 2) for --duration, then
the no-op again for as long (not with --target): the bound prices the no-op at the mean of
before and after, since a machine's speed can drift while a style runs.

The broker style places orders through the asynchronous HTTP front, as a shop would (POST
/orders with Prefer: respond-async, 202, then the order's status stream). Two variants run
beside their style when --styles names them: broker-amqp (the order.place command published on
the broker, the terminal event consumed) and rest-sse (REST's saga answered 202 at once, the
outcome from the status stream). `--styles rest,rest-sse,broker,broker-amqp` compares them.

--find-capacity raises the open-model rate from --start-rate by half again each --step, per
style, and reports the highest rate held with p99 under --slo-p99 and errors under
--max-error-rate (arrivals never sent count as errors; a saturated load generator holds none).
Durations are whole seconds: 30s, 2m or 30.

Without --target it starts its own stack (free ports, its own broker namespace on
ORDERFLOW_BROKER_URL, data under the results folder) and stops it at the end. The machine's
RabbitMQ serves other runs too, so its CPU is not counted; --private-broker runs the stack on a
RabbitMQ node of the run's own (under <out>/broker, stopped at the end; needs rabbitmq-server),
whose CPU is then counted as `rabbitmq`, and the broker's no-op is priced with it. With --traces
[RATIO] that stack and the Locust users trace: each writes its spans as OTLP JSON to
<out>/traces/, sampling RATIO of the orders (0.1 if not given; OTEL_TRACES_SAMPLER, if set, is
kept), each order's trace rooted at the Locust user's request. `orderflow trace` prints an
order's waterfall from them. Without --traces nothing is traced: tracing costs CPU even when
sampling (docs/bench.md), and untraced runs compare with each other.

With a scenario file (orderflow bench scenarios/payment-outage.yaml) the file sets the load, the
profile and a timeline of faults; each style runs on a fresh stack of its own (traced as above,
into the same <out>/traces; and a private RabbitMQ node when a fault stops the broker), and
after the load an audit checks that no order was lost or stuck, nobody was charged twice or
kept charged, and stock was conserved. The results then hold each phase (before / during /
after the faults), the blast radius, the recovery time, the queues and the audit. --styles,
--profile, --out and --processes still apply; --time-scale 0.25 runs the file's whole timeline
in a quarter of the time (a workshop's laptop).

While a style's load runs, every run reads each service's /metrics (breakers, retries, bulkhead
rejections, outbox, queue depth, faults injected), CPU and memory once a second: results.json's
`telemetry`, plotted in the report.

Scaling out (docs/bench.md, "Scaling out"): --master-bind HOST[:PORT] --expect-workers N makes
Locust a master that waits (--workers-wait, 2m) for N workers before each phase; start them,
here or on other machines, with `orderflow locust-worker --master HOST:PORT`. They send their
samples to the master, so the results stay whole; their CPU is not known here, and the figures
say so. --stack-host ADDRESS makes its own stack listen where other machines reach it.
--store postgres runs its own stack on PostgreSQL (a database per service, dropped after the
run; the backends' CPU is counted as `postgresql`); --replicas N runs N processes per
service behind HAProxy, as `orderflow up --replicas` (docs/scale-out.md).

Exit codes: 0 done, 1 a style could not run or Locust failed (with a scenario: or a fault did
not happen as planned), 2 invalid arguments (or an invalid scenario file: its line and field
are named), 3 a scenario's expectation not met, 130 interrupted."""


def run(args: argparse.Namespace) -> int:
    if args.scenario is not None:
        return run_scenario_file(args)
    try:
        bench = plan(args)
        settings = Settings.from_env()
    except (InvalidArguments, ConfigError) as error:
        print(f"orderflow bench: {error}", file=sys.stderr)
        return 2
    run_id = _new_run_id()
    out = bench.out or settings.data_dir / "bench" / run_id
    profile = bench.profile or settings.resilience.profile
    bench = replace(bench, profile=profile)
    try:
        with _traced(out, bench.traces), _target(bench, settings, out) as target:
            document = _run(bench, target, out, run_id, shlex.join(["orderflow", *sys.argv[1:]]))
    except (
        TargetUnavailable,
        LocustFailed,
        PortInUse,
        StartupFailed,
        PostgresUnavailable,
        BrokerError,
        ValueError,
    ) as error:
        print(f"\norderflow bench: {error}", file=sys.stderr)
        return 1
    _print_tables(document, results.write_results(out, document))
    _write_report(out)
    return 0


def run_scenario_file(args: argparse.Namespace) -> int:
    """`orderflow bench SCENARIO.yaml`: see harness/scenarios/run.py and docs/scenarios.md."""
    try:
        scenario = scaled(load_scenario(args.scenario), args.time_scale or 1.0)
        styles = scenario_styles(args, scenario.styles)
        settings = Settings.from_env()
    except (ScenarioError, InvalidArguments, ConfigError) as error:
        print(f"orderflow bench: {error}", file=sys.stderr)
        return 2
    scenario = scenario.model_copy(update={"styles": styles})
    run_id = _new_run_id()
    out = args.out or settings.data_dir / "bench" / f"{scenario.name}-{run_id}"
    profile = args.profile or scenario.profile or settings.resilience.profile
    command = shlex.join(["orderflow", *sys.argv[1:]])
    try:
        with _traced(out, args.traces):
            document = scenarios.run_scenario(
                scenario, settings.broker_url, profile, out, run_id, command, args.processes
            )
    except BrokerError as error:  # the private broker would not start: nothing ran
        print(f"\norderflow bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # every stack, fault and private broker is stopped on the way out
        print(
            "\norderflow bench: interrupted; the styles run so far were not written",
            file=sys.stderr,
        )
        return 130
    return _scenario_outcome(document, out)


def _scenario_outcome(document: dict[str, Any], out: Path) -> int:
    """Write and show what ran; the exit code says whether all of it went as planned."""
    stopped = document["scenario"].get("stopped")
    if document["styles"]:
        path = results.write_results(out, document)
        _print_tables(document, path)
        print()
        print(table.scenario_table(results.checked(document)))
        _write_report(out)
    if stopped:
        print(
            f"\norderflow bench: {stopped['style']} could not run: {stopped['error']}",
            file=sys.stderr,
        )
        return 1
    if failed := scenarios.faults_failed(document):
        print(
            "\norderflow bench: a fault did not happen as planned:",
            *failed,
            sep="\n  ",
            file=sys.stderr,
        )
        return 1
    if not scenarios.expectations_met(document):
        print("\norderflow bench: some expectations of the scenario were not met (see above)")
        return scenarios.EXPECTATIONS_NOT_MET
    return 0


def short_run(settings: Settings, out: Path) -> int:
    """A few seconds of every style against the stack at `settings` (what `orderflow demo`
    ends with); the same as the command written into its results."""
    load = Load(users=5, rate=None, duration_s=3.0)
    bench = BenchPlan(STYLES, load, 2.0, None, out, None, settings.resilience.profile)
    order = settings.address("order").http_url
    command = f"orderflow bench --target {order} --duration 3s --calibration 2s --users 5"
    try:
        document = _run(bench, running_target(order, settings), out, _new_run_id(), command)
    except (TargetUnavailable, LocustFailed, ValueError) as error:
        print(f"\norderflow bench: {error}", file=sys.stderr)
        return 1
    path = results.write_results(out, document)
    found = results.checked(document)
    print(f"\n{table.side_by_side(found)}\n\n{table.audit_table(found)}")
    print(f"\nResults: {path}  (made by: {command})")
    _write_report(out)
    return 0


def _new_run_id() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]


@contextlib.contextmanager
def _target(bench: BenchPlan, settings: Settings, out: Path) -> Iterator[Target]:
    if bench.target:
        yield running_target(bench.target, settings)
        return
    assert bench.profile is not None  # run() settles it
    shape = _shape(bench)
    with _own_broker(bench, out) as broker:  # the node first: the stack runs on it
        print(
            f"Starting the stack ({bench.profile} profile; {shape.describe()}; data and logs in"
            f" {out / 'stack'}) ..."
        )
        with own_stack(
            out / "stack", settings, bench.profile, shape=shape, broker=broker
        ) as target:
            yield target


@contextlib.contextmanager
def _own_broker(bench: BenchPlan, out: Path) -> Iterator[OwnBroker | None]:
    """--private-broker: a RabbitMQ node of the run's own under <out>/broker, stopped after it
    (the project's node, harness/rabbit/node.py; the machine's broker is never touched)."""
    if not bench.private_broker:
        yield None
        return
    node = PrivateBroker(out / "broker")
    print(f"Starting a private RabbitMQ node ({node.data_dir}) ...")
    with node:  # started here, stopped however the run ends
        yield OwnBroker(node.amqp_url, node.pid)


def _shape(bench: BenchPlan) -> StackShape:
    return StackShape(bench.store, bench.replicas, bench.stack_host, bench.grpc_balancing)


@contextlib.contextmanager
def _traced(out: Path, ratio: float | None) -> Iterator[None]:
    """--traces: every stack the run starts and every Locust process inherit this environment
    (a scenario's fresh stack per style appends to the same files); set for the run only."""
    if ratio is None:
        yield
        return
    added = traces.environment(out, os.environ, ratio)
    saved = {name: os.environ.get(name) for name in added}
    os.environ.update(added)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run(bench: BenchPlan, target: Target, out: Path, run_id: str, command: str) -> dict[str, Any]:
    styles: dict[str, dict[str, Any]] = {}
    capacity: dict[str, Any] = {}
    meta = _run_meta(bench, target, run_id, command)  # now: it records when the run started
    for style in bench.styles:  # all first: a style that cannot run fails the run at once
        preflight(target, style)
    print(_describe(bench), flush=True)
    costs = _Costs(_transaction_ms(target, out), not_attributed(target, bench.load))
    for style in bench.styles:
        preflight(target, style)  # again: a service may have died meanwhile
        ceiling = _calibrate(bench, target, style, out / style)
        if bench.capacity is None:
            with TelemetrySampler(
                target.services, target.process_ids, replicas=target.replicas
            ) as telemetry:
                phase, spent = measured_phase(
                    style, "load", bench.load, target, out / style, telemetry.start
                )
            load = results.load_samples(phase.samples)
            styles[style] = _style_result(
                bench, style, load, bench.load.duration_s, (phase, spent), ceiling, costs
            )
            styles[style]["telemetry"] = telemetry.section(_load_start(load))
        else:
            styles[style], capacity[style] = _capacity_search(
                bench, target, style, out / style, (ceiling, costs)
            )
        styles[style]["audit"] = _audit(target, style, out / style)
        # After the audit, which waits for the load's last orders: their work (the last
        # notifications, a broker's last events) must not be priced as the no-op's.
        _after_load(bench, target, style, out / style, styles[style])
    cost.reprice(styles, costs.transaction_ms)  # every transport's no-op is known only now
    return results.results_document(meta, styles, _capacity_section(bench, capacity))


def _transaction_ms(target: Target, out: Path) -> float:
    """A store transaction's price in the bound, on the store the run's stack uses (SQLite with
    --target, whose store the bench cannot know)."""
    if target.postgres_admin_url is None:
        return transactions.sqlite_ms(out / "transaction-cost")
    return transactions.postgres_ms(target.postgres_admin_url).cpu_ms


def _load_start(load: list[results.Sample]) -> float:
    """The second 0 of the style's per-second figures (results.per_second's t0)."""
    return min((sample.at for sample in load), default=0.0)


def _audit(target: Target, style: str, folder: Path) -> dict[str, Any]:
    """The audit of this style's orders (every load phase of it, capacity steps included); the
    stack may hold other styles' and other runs' orders too, so it is scoped to this style."""
    accepted = results.load_accepted(sorted(folder.rglob("samples-load/*.json")))
    print(f"  {style:<9} audit ...", flush=True)
    try:
        # The order service records the style an order came in by: a variant's are its style's.
        return audit.audit_run(target.services, style_of(style), accepted, shared=True)
    except httpx.HTTPError as error:  # the measurements stand without it: say so, keep them
        return {"error": f"{type(error).__name__}: {error}"}


@dataclass(frozen=True)
class Ceiling:
    """A style's calibration: its no-op samples and what the load generator used for them."""

    samples: list[results.Sample] | None = None
    load_generator: dict[str, Any] | None = None
    spent: Reading | None = None  # CPU seconds by process during the no-op

    def noop_cost(self) -> dict[str, float | None] | None:
        if self.samples is None or self.spent is None:
            return None
        noops = sum(sample.operation == results.NOOP for sample in self.samples)
        return cost.noop_cost(self.spent, noops)


@dataclass(frozen=True)
class _Costs:
    """What the CPU figures of every style share: a store transaction's cost, measured once
    per run, and what they cannot attribute."""

    transaction_ms: float
    not_attributed: dict[str, Any]


def _calibrate(
    bench: BenchPlan, target: Target, style: str, folder: Path, label: str | None = None
) -> Ceiling:
    """The style's no-op, closed model, with the run's users (the open model's pool is sized
    for its arrivals instead, so calibration then uses at most 10)."""
    if bench.calibration_s is None:
        return Ceiling()
    users = bench.load.users if bench.load.rate is None else min(bench.load.users, 10)
    workers = bench.load.workers
    if workers is not None:  # every worker runs at least one user
        users = max(users, workers.count)
    load = Load(users, None, bench.calibration_s, bench.load.processes, workers=workers)
    phase, spent = measured_phase(style, "calibration", load, target, folder, label=label)
    return Ceiling(results.load_samples(phase.samples), phase.load_generator, spent)


def _after_load(
    bench: BenchPlan, target: Target, style: str, folder: Path, result: dict[str, Any]
) -> None:
    """The no-op again after the style's load and audit, as long as before it (a shorter run is
    dearer per call: Locust's ramp is a larger share of it). A machine's speed drifts while a
    style runs (docs/bench.md, "The no-op before and after the load"), so the bound prices the
    no-op at the mean of the two, the load sitting between them; `cost.reprice` bounds every
    style with it at the run's end. Not against a --target: its services' CPU is not known,
    so there is no bound to price (and `orderflow demo` stays short)."""
    calibration = result.get("calibration")
    if bench.calibration_s is None or calibration is None or not target.pids:
        return
    ceiling = _calibrate(bench, target, style, folder / "after-load", AFTER_LOAD_LABEL)
    assert ceiling.samples is not None and ceiling.load_generator is not None
    after = ceiling.noop_cost()
    calibration["after_load"] = results.after_load(
        ceiling.samples, bench.calibration_s, ceiling.load_generator, after
    )
    before = calibration.get("cpu_ms_per_call")
    if before is not None:
        calibration["cpu_ms_per_call_before_load"] = before
        calibration["cpu_ms_per_call"] = cost.mean_price(before, after)


def _style_result(
    bench: BenchPlan,
    style: str,
    load: list[results.Sample],
    duration_s: float,
    measured: tuple[PhaseRun, Reading],
    ceiling: Ceiling,
    costs: _Costs,
) -> dict[str, Any]:
    phase, spent = measured
    result = results.style_result(
        load,
        ceiling.samples,
        duration_s,
        bench.calibration_s,
        phase.load_generator,
        ceiling.load_generator,
    )
    noop = ceiling.noop_cost()
    if result["calibration"] is not None and noop is not None:
        result["calibration"]["cpu_ms_per_call"] = noop
    orders = result["summary"]["orders_completed"]
    result["cpu"] = cost.cpu_section(  # a variant is bounded as its style's path
        style_of(style), spent, orders, noop, costs.transaction_ms, costs.not_attributed
    )
    return result


def _capacity_search(
    bench: BenchPlan, target: Target, style: str, folder: Path, priced: tuple[Ceiling, _Costs]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raise the rate until a step misses the SLO; the style's result is its best held step."""
    assert bench.capacity is not None
    goal, steps, best, rate = bench.capacity, [], None, bench.capacity.start_rate
    while rate <= goal.max_rate:
        load = Load(
            open_pool(rate, goal.pool),
            rate,
            goal.step_s,
            bench.load.processes,
            workers=bench.load.workers,
        )
        phase, spent = measured_phase(style, "load", load, target, folder / f"rate-{rate:g}")
        samples = results.load_samples(phase.samples)
        step = results.capacity_step(
            samples, rate, goal.step_s, goal.slo_p99_ms, goal.max_error_rate
        )
        steps.append(step)
        print(_step_line(style, step), flush=True)
        if best is None or step["held"]:
            best = _style_result(bench, style, samples, goal.step_s, (phase, spent), *priced)
        if not step["held"]:
            break
        rate = round(rate * goal.growth, 1)
    held = [step["rate"] for step in steps if step["held"]]
    assert best is not None, "the first step always runs"
    return best, {"held_rate": max(held) if held else None, "steps": steps}


def _step_line(style: str, step: dict[str, Any]) -> str:
    verdict = "held" if step["held"] else "not held"
    p99 = "-" if step["p99_ms"] is None else f"{step['p99_ms']:.0f}"
    errors = f"{step['error_rate']:.2%}"
    return f"  {style:<9} {step['rate']:8.1f}/s  p99 {p99} ms  errors {errors}  {verdict}"


def _capacity_section(bench: BenchPlan, styles: dict[str, Any]) -> dict[str, Any] | None:
    if bench.capacity is None:
        return None
    goal = bench.capacity
    return {
        "slo_p99_ms": goal.slo_p99_ms,
        "max_error_rate": goal.max_error_rate,
        "step_s": goal.step_s,
        "styles": styles,
    }


def _run_meta(bench: BenchPlan, target: Target, run_id: str, command: str) -> dict[str, Any]:
    load = bench.load
    meta = results.run_meta(
        run_id,
        command,
        target.description,
        bench.profile,
        model=load.model,
        users=load.users,
        rate=load.rate,
        duration_s=load.duration_s,
        calibration_s=bench.calibration_s,
        processes=load.processes,
    )
    if bench.target is None:  # a --target's store, replicas and broker are its own
        broker = "private" if bench.private_broker else "shared"
        meta |= {"store": bench.store, "replicas": bench.replicas, "broker": broker}
    if load.workers is not None:
        meta["remote_workers"] = load.workers.count
    return meta


def _describe(bench: BenchPlan) -> str:
    load = bench.load
    shape = (
        f"{load.users} users"
        if load.rate is None
        else f"{load.rate:g}/s arrivals, pool of {load.users} users"
    )
    what = (
        "capacity search"
        if bench.capacity
        else f"{load.model} model, {shape}, {load.duration_s:g} s"
    )
    calibration = (
        "no calibration"
        if bench.calibration_s is None
        else f"calibration {bench.calibration_s:g} s"
    )
    traced = "untraced" if bench.traces is None else f"traced ({bench.traces:.0%} of the orders)"
    parts = [", ".join(bench.styles), what, calibration, traced, _describe_stack(bench)]
    if load.workers is not None:
        workers = load.workers
        parts.append(
            f"users on {workers.count} Locust workers (master at"
            f" {workers.bind_host}:{workers.bind_port}; their CPU is not counted)"
        )
    return "orderflow bench: " + "; ".join(parts)


def _describe_stack(bench: BenchPlan) -> str:
    if bench.target is not None:
        return f"stack at {bench.target}"
    broker = "; a private RabbitMQ node" if bench.private_broker else ""
    return f"own stack on {_shape(bench).describe()}{broker}"


def _print_tables(document: dict[str, Any], path: Path) -> None:
    found = results.checked(document)
    print()
    print(table.side_by_side(found))
    print()
    print(table.operations_table(found))
    print()
    print(table.cpu_table(found))
    if found.capacity is not None:
        print()
        print(table.capacity_table(found))
    print()
    print(table.audit_table(found))
    for style, result in found.styles.items():
        if isinstance(result.audit, AuditError):
            print(f"{style}: the audit could not read the books: {result.audit.error}")
    print(f"\nResults: {path}  (folder: {path.parent})")


def _write_report(folder: Path) -> None:
    """report.html and report.md beside results.json (docs/report.md): the run's last words."""
    try:
        written = write_report(folder)
    # The results stand without a report: whatever went wrong drawing it (a ReportError, or a
    # plotting library's own error), say so and keep the run's exit code.
    except Exception as error:
        print(f"orderflow bench: no report: {error}", file=sys.stderr)
        return
    print(f"Report: {written.html}\n        {written.markdown}")
