"""`orderflow bench scenarios/<name>.yaml`: one scenario, every style it lists, one after the
other, each on a stack of its own started fresh (so the audit of one style's run sees only its
own orders), with the scenario's faults on time and an audit once the load stops.

For each style: start the stack (a private broker too when a fault stops the broker), start
Locust, run the fault timeline from the moment the load starts while watching the broker's
queues, wait for Locust, end any fault still on, settle and audit, then compute the phases.
The results folder holds what `orderflow bench` writes, plus each style's `scenario` section
(the faults as they happened, phases, blast radius, recovery, queues, audit, expectations).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness import audit
from harness.bench import results
from harness.bench.runner import Load, open_pool, run_phase
from harness.bench.target import preflight
from harness.clients.faults import control_environment, controls
from harness.load.pacing import Surge
from harness.rabbit.node import PrivateBroker
from harness.scenarios.fault_kinds import replica_service
from harness.scenarios.injector import Injector
from harness.scenarios.phases import isolation
from harness.scenarios.queues import QueueWatch
from harness.scenarios.spec import Expectation, Scenario, StackSpec
from harness.scenarios.spread import replica_spread
from harness.scenarios.stack import order_database, scenario_stack
from harness.scenarios.takeover import TakeoverWatch
from harness.scenarios.timeline import Timeline
from harness.stack.supervisor import Stack
from harness.telemetry.sampler import TelemetrySampler
from harness.vocabulary import style_of
from services.kernel.config import SERVICES

EXPECTATIONS_NOT_MET: Final = 3


@dataclass(frozen=True)
class Broker:
    url: str
    private: PrivateBroker | None


def run_scenario(
    scenario: Scenario,
    broker_url: str,
    profile: str,
    out: Path,
    run_id: str,
    command: str,
    processes: int = 1,
) -> dict[str, Any]:
    """Run every style of the scenario; the results document (the caller writes it).

    A style that cannot run (or fails halfway) stops the scenario, but the styles already run
    keep their results: `scenario.stopped` then says which style failed and why."""
    meta = _meta(scenario, profile, run_id, command, processes)
    styles: dict[str, dict[str, Any]] = {}
    section = _scenario_section(scenario)
    with _broker(scenario, broker_url, out) as broker:
        for style in scenario.styles:
            scale = f", times x{scenario.time_scale:g}" if scenario.time_scale != 1.0 else ""
            print(
                f"orderflow bench: {scenario.name} / {style} ({profile} profile{scale})", flush=True
            )
            try:
                _require_broker(broker)
                styles[style] = _run_style(scenario, style, broker, profile, out / style, processes)
            except Exception as error:  # the results so far are kept, and the error shown
                section["stopped"] = {"style": style, "error": f"{type(error).__name__}: {error}"}
                break
    document = results.results_document(meta, styles)
    document["scenario"] = section
    return document


def expectations_met(document: Mapping[str, Any]) -> bool:
    return all(
        check["passed"]
        for result in document["styles"].values()
        for check in result["scenario"]["expectations"]
    )


def faults_failed(document: Mapping[str, Any]) -> list[str]:
    """`style: fault: error` for each fault that did not begin or end as planned."""
    return [
        f"{style}: {fault['description']}: {error}"
        for style, result in document["styles"].items()
        for fault in result["scenario"]["faults"]
        for error in fault["errors"]
    ]


def _require_broker(broker: Broker) -> None:
    """A private broker that did not come back from an earlier style's outage would fail every
    later style in a less clear way: start it again, or say so."""
    if broker.private is not None and not broker.private.is_running():
        print("The private broker is not running (after an outage?): starting it again ...")
        broker.private.start()


@contextlib.contextmanager
def _broker(scenario: Scenario, broker_url: str, out: Path) -> Iterator[Broker]:
    """The machine's broker (each stack has a namespace of its own), or, when a fault stops
    the broker, a private node of the scenario's own, stopped at the end."""
    if not scenario.needs_private_broker():
        yield Broker(broker_url, None)
        return
    private = PrivateBroker(out / "broker")
    print(f"Starting a private RabbitMQ node for the broker faults ({private.data_dir}) ...")
    with private:  # started here, stopped however the run ends
        yield Broker(private.amqp_url, private)


def _run_style(
    scenario: Scenario, style: str, broker: Broker, profile: str, folder: Path, processes: int
) -> dict[str, Any]:
    env = control_environment(secrets.token_urlsafe(24))  # a token of this run's alone
    taken = {int(port) for name, port in env.items() if name.endswith("_CONTROL_PORT")}
    spec = scenario.stack
    with scenario_stack(spec, folder / "stack", broker.url, profile, env, taken) as (
        stack,
        target,
    ):
        namespace = target.targets.namespace
        takeovers = _takeover_watch(stack, style)
        on_kill = _on_kill(takeovers)
        injector = Injector(stack, controls(env), broker.url, namespace, broker.private, on_kill)
        timeline = Timeline(scenario.faults, injector)
        queues = QueueWatch(broker.url, namespace, target.services["order"])
        # With replicas, each read at its own address; pids then by replica name.
        telemetry = TelemetrySampler(
            target.services,
            stack.pids if spec.replicated else lambda: _pids(stack),
            replicas=target.replicas,
        )
        started: list[float] = []

        def on_start(zero: float) -> None:
            started.append(zero)
            timeline.start(zero)
            queues.start(zero)
            telemetry.start(zero)

        preflight(target, style)
        try:
            try:
                load = _load(scenario, processes)
                phase = run_phase(style, "load", load, target, folder, on_start)
            finally:
                timeline.finish()  # every fault ended, a crashed service restarted
            accepted = results.load_accepted(phase.samples)
            found = audit.audit_run(target.services, style_of(style), accepted, scenario.grace_s)
        finally:
            queues.stop()  # after the settling, so the queues are seen draining
            telemetry.stop()
            if takeovers is not None:
                takeovers.stop()
        broker_queues = queues.summary()  # the dead-letter queues, before the stack goes
        samples = results.load_samples(phase.samples)
    zero = started[0] if started else min((s.at for s in samples), default=0.0)
    planned = scenario.load
    result = results.style_result(samples, None, planned.duration_s, None, phase.load_generator)
    result["audit"] = found
    result["telemetry"] = telemetry.section(zero)
    result["scenario"] = {
        "faults": [happened.to_json() for happened in timeline.happened],
        **isolation(
            style_of(style), samples, zero, timeline.windows(), planned.warmup_s, planned.duration_s
        ),
        "broker": {**broker_queues, "poison_published": injector.poison_published},
    }
    if spec.replicated:
        result["scenario"]["replicas"] = replica_spread(telemetry.points)
    if takeovers is not None:
        result["scenario"]["takeovers"] = takeovers.section(zero)
    result["scenario"]["expectations"] = _expectations(scenario.expect, style, result)
    return result


def _takeover_watch(stack: Stack, style: str) -> TakeoverWatch | None:
    """With several order replicas on PostgreSQL: who finishes what a killed one left."""
    database = order_database(stack)
    if database is None or len(stack.replicas("order")) < 2:
        return None
    return TakeoverWatch(database, style_of(style))


def _on_kill(takeovers: TakeoverWatch | None) -> Callable[[str], None] | None:
    if takeovers is None:
        return None

    def killed(target: str) -> None:
        if replica_service(target) == "order":
            takeovers.killed(target)

    return killed


def _pids(stack: Stack) -> dict[str, int]:
    """Each service's process now: a crash fault's restart gives it a new one."""
    return {service: stack.pid(service) for service in SERVICES}


def _load(scenario: Scenario, processes: int = 1) -> Load:
    spec = scenario.load
    spike = next((f for f in scenario.faults if f.kind == "spike"), None)  # one at most (spec)
    surge = None
    if spike is not None:
        surge = Surge(spike.at_s, spike.duration_s, float(spike.params["factor"]))
    if spec.rate is None:
        return Load(spec.users or 10, None, spec.duration_s, processes)
    peak = spec.rate * (surge.factor if surge else 1.0)
    return Load(open_pool(peak, spec.users), spec.rate, spec.duration_s, processes, surge)


def _expectations(
    expect: tuple[Expectation, ...], style: str, result: dict[str, Any]
) -> list[dict[str, Any]]:
    scenario = result["scenario"]
    checks = []
    for expectation in (e for e in expect if style_of(style) in e.styles):  # variants too
        for count in expectation.zero:
            seen = result["audit"]["counts"][count]
            checks.append({"check": f"{count} == 0", "seen": seen, "passed": seen == 0})
        for phase, least in expectation.min_success_ratio.items():
            ratio = scenario["phases"].get(phase, {}).get("success_ratio")
            ok = ratio is not None and ratio >= least
            checks.append({"check": f"{phase} success >= {least:g}", "seen": ratio, "passed": ok})
        for service, least in expectation.min_replica_share.items():
            spread = scenario.get("replicas", {}).get(service, {})
            checks.extend(_share_checks(service, spread, least))
    return checks


def _share_checks(service: str, replicas: Mapping[str, Any], least: float) -> list[dict[str, Any]]:
    """Each replica's share of its service's requests, at least `least` (none read: failed)."""
    if not replicas:
        return [{"check": f"{service} replicas read", "seen": None, "passed": False}]
    checks = []
    for replica, spread in replicas.items():
        share = spread["share"]
        ok = share is not None and share >= least
        checks.append({"check": f"{replica} share >= {least:g}", "seen": share, "passed": ok})
    return checks


def _scenario_section(scenario: Scenario) -> dict[str, Any]:
    return {
        "name": scenario.name,
        "description": scenario.description,
        "file": str(scenario.path),
        "time_scale": scenario.time_scale,
        "warmup_s": scenario.load.warmup_s,
        "grace_s": scenario.grace_s,
        "faults": [fault.describe() for fault in scenario.faults],
        **({"stack": scenario.stack.to_json()} if scenario.stack != StackSpec() else {}),
    }


def _meta(
    scenario: Scenario, profile: str, run_id: str, command: str, processes: int
) -> dict[str, Any]:
    load = _load(scenario, processes)
    return results.run_meta(
        run_id,
        command,
        "own stack per style (fresh stores, broker namespace of its own)",
        profile,
        model=load.model,
        users=load.users,
        rate=load.rate,
        duration_s=load.duration_s,
        calibration_s=None,
        processes=processes,
    )
