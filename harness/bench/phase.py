"""One Locust phase with the CPU every process of the stack used while its load ran: the
services' read at the load's start and at Locust's exit (harness/bench/cpu.py), the load
generator's from the same start (harness/bench/runner.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.bench import backends
from harness.bench.cost import LOAD_GENERATOR, RABBITMQ
from harness.bench.cpu import CpuSampler, Reading, used
from harness.bench.runner import Load, PhaseRun, run_phase
from harness.bench.target import Target
from services.kernel.config import SERVICES

SHARED_BROKER = (
    "not a process this bench started (the machine's RabbitMQ serves other runs too):"
    " its CPU is not counted (--private-broker counts it)"
)
NOT_STARTED_HERE = "the stack was not started by this bench (--target): its processes are not known"
REMOTE_WORKERS = (
    "the users ran on Locust workers started outside this bench (--expect-workers), maybe on"
    " other machines: their CPU is not known here (the master's alone is in load_generator)"
)


def measured_phase(
    style: str,
    phase: str,
    load: Load,
    target: Target,
    folder: Path,
    also_on_start: Callable[[float], None] | None = None,
    label: str | None = None,
) -> tuple[PhaseRun, Reading]:
    """Run the phase; CPU seconds by process (None: not attributed), the generator's too.
    `also_on_start` is called with the load's start too (the telemetry sampler's start);
    `label` names the phase on the progress line."""
    sampler = CpuSampler(target.pids)
    start: Reading = {}
    store_start: list[backends.Backends | None] = []

    def on_start(at: float) -> None:
        start.update(sampler.sample())
        if target.backends is not None:
            store_start.append(target.backends.sample())
        if also_on_start is not None:
            also_on_start(at)

    run = run_phase(style, phase, load, target, folder, on_start=on_start, label=label)
    spent: Reading = dict.fromkeys(SERVICES)
    if start:
        spent.update(used(start, sampler.sample()))
    if target.backends is not None:  # PostgreSQL's share: its backends serving the stack
        before = store_start[0] if store_start else None
        spent[backends.POSTGRESQL] = backends.used(before, target.backends.sample())
    # With remote workers the master's CPU alone would pass for the whole generator's: unknown.
    remote = load.workers is not None
    spent[LOAD_GENERATOR] = None if remote else run.load_generator.get("measured_cpu_s")
    return run, spent


def not_attributed(target: Target, load: Load | None = None) -> dict[str, Any]:
    """What the CPU figures leave out, and why."""
    reasons = {} if RABBITMQ in target.pids else {RABBITMQ: SHARED_BROKER}
    if not target.pids:
        reasons |= dict.fromkeys(SERVICES, NOT_STARTED_HERE)
    if load is not None and load.workers is not None:
        reasons[LOAD_GENERATOR] = REMOTE_WORKERS
    return reasons | dict(target.store_not_attributed)
