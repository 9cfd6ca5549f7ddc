"""What one run's report says, before it is rendered as Markdown or HTML."""

from __future__ import annotations

from dataclasses import dataclass

from harness.bench import table as terminal
from harness.bench.results_model import Machine
from harness.bench.results_model import Run as RunMeta
from harness.bench.results_scenario_model import Scenario
from harness.report import run_tables, scenario_tables, variants
from harness.report.cells import Table
from harness.report.model import Run
from harness.vocabulary import AUDIT_COUNTS, store_name

TIMELINES_HOW_TO_READ = (
    "Each style's load second by second: the order's p50, p95 and p99 latency on top (a log "
    "scale when the worst seconds dwarf the typical ones), requests, completed orders and "
    "failures per second below, and the broker's queue depths when anything queued. Grey is "
    "the warm-up; red bands are the faults, from when they really began to when they ended."
)
BARS_HOW_TO_READ = (
    "The same numbers as the table, drawn: taller is better on the left, shorter on the right."
)


@dataclass(frozen=True)
class Report:
    run: Run
    title: str
    facts: list[tuple[str, str]]  # what was run, as (what, value)
    warnings: list[str]
    verdict: str  # the audit in one line
    verdict_ok: bool
    side_by_side: Table
    variants: Table | None  # each variant beside its style (variants.py), when both ran
    cpu: Table | None
    audit: Table
    problems: list[str]  # the audit's examples
    scenario: list[Table]
    operations: Table
    capacity: Table | None
    errors: Table | None


def report(run: Run) -> Report:
    verdict, verdict_ok = audit_verdict(run)
    return Report(
        run=run,
        title=f"orderflow report: {run.kind}",
        facts=facts(run),
        warnings=run_tables.warnings(run),
        verdict=verdict,
        verdict_ok=verdict_ok,
        side_by_side=run_tables.side_by_side(run),
        variants=variants.variants(run),
        cpu=run_tables.cpu(run),
        audit=run_tables.audit(run),
        problems=run_tables.audit_problems(run),
        scenario=scenario_tables.tables(run) if run.scenario else [],
        operations=run_tables.operations(run),
        capacity=run_tables.capacity(run),
        errors=run_tables.errors(run),
    )


def facts(run: Run) -> list[tuple[str, str]]:
    meta = run.meta
    found = [
        ("command", meta.command),
        ("started", f"{meta.started_at} (run {meta.id})"),
        ("styles", ", ".join(run.styles)),
        ("load", describe_load(meta)),
        ("profile", f"{meta.profile} (the order service's timeouts, retries and breaker)"),
        ("stack", describe_stack(meta)),
        ("machine", describe_machine(meta.machine)),
    ]
    if run.scenario:
        found[1:1] = _scenario_facts(run.scenario)
    return found


def describe_load(meta: RunMeta) -> str:
    """The load in words: `closed model, 5 users, 3 s per style after a 2 s calibration, ...`"""
    shape = (
        f"{meta.users} users"
        if meta.model == "closed"
        else f"{meta.rate:g} arrivals/s over {meta.users} users"
    )
    calibration = (
        "no calibration"
        if meta.calibration_s is None
        else f"after a {meta.calibration_s:g} s no-op calibration"
    )
    processes = meta.processes
    generator = f"{processes} Locust process{'es' if processes > 1 else ''}"
    if meta.remote_workers is not None:
        generator = (
            f"{meta.remote_workers} Locust workers started outside the bench (their CPU is"
            " not counted)"
        )
    duration = f"{meta.duration_s:g} s per style,"
    return f"{meta.model} model, {shape}, {duration} {calibration}, {generator}"


def describe_stack(meta: RunMeta) -> str:
    """Where the stack ran, and on what store with how many replicas when the bench started
    it (`own stack (SQLite; ...)`); runs made before --store said nothing: SQLite, one each."""
    if meta.store is None:
        return meta.target
    return f"{meta.target}; store {describe_store(meta)}; broker {describe_broker(meta)}"


def describe_broker(meta: RunMeta) -> str:
    """Whose RabbitMQ the stack used, and so whether its CPU is in the figures (runs made
    before --private-broker used the machine's)."""
    if meta.broker == "private":
        return "a private RabbitMQ node (its CPU counted)"
    return "the machine's RabbitMQ (its CPU not counted)"


def describe_store(meta: RunMeta) -> str:
    """`SQLite, 1 replica per service` (runs made before --store: SQLite, one each)."""
    store = store_name(meta.store)
    replicas = meta.replicas or 1
    each = "1 replica" if replicas == 1 else f"{replicas} replicas"
    return f"{store}, {each} per service"


def describe_machine(machine: Machine) -> str:
    return f"{machine.cpus} CPUs, Python {machine.python}, {machine.platform}"


def time_scale(scenario: Scenario | None) -> float:
    """How the scenario's times were scaled (1: as written, or not a scenario run)."""
    return 1.0 if scenario is None or scenario.time_scale is None else scenario.time_scale


def _scenario_facts(scenario: Scenario) -> list[tuple[str, str]]:
    scale = time_scale(scenario)
    return [
        ("scenario", f"{scenario.name} ({scenario.file})"),
        ("what happens", scenario.description.strip()),
        ("faults", "; ".join(scenario.faults) or "none"),
        (
            "timing",
            f"warm-up {scenario.warmup_s:g} s, audit waited up to {scenario.grace_s:g} s"
            + (f", times scaled x{scale:g}" if scale != 1.0 else ""),
        ),
    ]


def audit_verdict(run: Run) -> tuple[str, bool]:
    """The audit in one line, and whether it is good news."""
    broken = []
    for style, result in run.styles.items():
        counts = terminal.counts_of(result)
        if counts is None:
            broken.append(f"{style}: the books could not be read")
            continue
        found = [
            f"{name} {terminal.count(counts, name)}"
            for name in AUDIT_COUNTS
            # older runs lack newer counts
            if terminal.breaks_invariant(name, terminal.count(counts, name))
        ]
        if found:
            broken.append(f"{style}: {', '.join(found)}")
    failed = [style for style, r in run.styles.items() if terminal.expectations_failed(r)]
    if failed:
        broken.append(f"expectations not met: {', '.join(failed)}")
    if not broken:
        return "Every invariant held in every style: nothing lost, stuck or charged wrongly.", True
    return "The audit found problems: " + "; ".join(broken) + ".", False
