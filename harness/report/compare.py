"""What changed between two runs (A, then B), style by style: the change is B/A for rates and
latencies, the difference in points for success and error percentages, and the difference
for counts and seconds. A change that matters is marked better or worse."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from harness.bench.results_model import Cpu, StyleResult, Summary
from harness.bench.results_scenario_model import StyleScenario
from harness.bench.table import MISSING, count, counts_of, number, percent
from harness.report.alike import ASPECTS, KIND, LOAD, MACHINE, PROFILE, TIME_SCALE, unlike
from harness.report.cells import BAD, GOOD, Cell, Table, plain
from harness.report.model import Run
from harness.report.report import describe_load, describe_machine, describe_stack
from harness.vocabulary import AUDIT_COUNTS, NOT_INVARIANTS

RATIO: Final = "ratio"
POINTS: Final = "points"
DIFFERENCE: Final = "difference"
# Below these a change is noise of a short run, not news: not marked better or worse.
NOTICEABLE_RATIO: Final = 1.10
NOTICEABLE_POINTS: Final = 1.0
NEVER: Final = math.inf  # a recovery that did not happen before the run ended


@dataclass(frozen=True)
class Metric:
    name: str
    change: str  # RATIO, POINTS or DIFFERENCE
    better: int  # +1: higher is better, -1: lower is better, 0: neither
    value: Callable[[StyleResult], float | None]  # from one style's result
    show: Callable[[float | None], str] = number


def _summary(read: Callable[[Summary], float | None]) -> Callable[[StyleResult], float | None]:
    return lambda result: read(result.summary)


def _count(name: str) -> Callable[[StyleResult], float | None]:
    def value(result: StyleResult) -> float | None:
        counts = counts_of(result)
        return None if counts is None else count(counts, name)

    return value


def _scenario(result: StyleResult) -> StyleScenario:
    # Scenario metrics are compared only when both runs are scenario runs, whose every style
    # has the section: its absence is a garbled document (a ReportError, as a missing key was).
    if result.scenario is None:
        raise KeyError("scenario")
    return result.scenario


def _during(result: StyleResult) -> float | None:
    during = _scenario(result).phases.get("during")
    return None if during is None else during.order_success_ratio


def _inflation(result: StyleResult) -> float | None:
    return _scenario(result).p99_inflation.get("order_completed")


def _recovery(result: StyleResult) -> float | None:
    """Seconds to recover; NEVER when a run with faults did not recover before it ended (the
    worst value there is, so that a change to it is marked, not shown as a blank)."""
    scenario = _scenario(result)
    if scenario.recovery_s is None and "during" in scenario.phases:
        return NEVER
    return scenario.recovery_s


def _whole(value: float | None) -> str:
    if value == NEVER:
        return "never"
    return MISSING if value is None else f"{value:g}"


LOAD_METRICS: Final = (
    Metric("orders/s", RATIO, +1, _summary(lambda summary: summary.orders_per_s)),
    Metric("order p50 ms", RATIO, -1, _summary(lambda summary: summary.order_p50_ms)),
    Metric("order p99 ms", RATIO, -1, _summary(lambda summary: summary.order_p99_ms)),
    Metric("errors %", POINTS, -1, _summary(lambda summary: summary.error_rate), percent),
)
# Counts the audit does not mark (repeats recognised, not sent twice): to see, not to judge.
AUDIT_METRICS: Final = tuple(
    Metric(name, DIFFERENCE, 0 if name in NOT_INVARIANTS else -1, _count(name), _whole)
    for name in AUDIT_COUNTS
)
SCENARIO_METRICS: Final = (
    Metric("orders ok % during", POINTS, +1, _during, percent),
    Metric("order p99 inflation", RATIO, -1, _inflation),
    Metric("recovery s", DIFFERENCE, -1, _recovery, _whole),
)
CHANGE_HEADERS: Final = ("style", "metric", "A", "B", "change")


def _cpu(result: StyleResult) -> Cpu | None:
    return result.cpu


def _total(result: StyleResult) -> float | None:
    cpu = _cpu(result)
    return None if cpu is None else cpu.total_ms


def _fraction(result: StyleResult) -> float | None:
    cpu = _cpu(result)
    return None if cpu is None else cpu.bound_fraction


def _cpu_of(process: str) -> Callable[[StyleResult], float | None]:
    def value(result: StyleResult) -> float | None:
        cpu = _cpu(result)
        return None if cpu is None else cpu.processes.get(process)

    return value


def cpu_metrics(a: Run, b: Run) -> list[Metric]:
    """CPU-ms per completed order (in total, then each process) and the fraction of the
    bound, when either run measured them (docs/bench.md, "CPU per order and the bound")."""
    cpus = [cpu for run in (a, b) for result in run.styles.values() if (cpu := _cpu(result))]
    if not any(cpu.total_ms is not None for cpu in cpus):
        return []
    processes = dict.fromkeys(  # in the order measured; none that no run could attribute
        name for cpu in cpus for name, ms in cpu.processes.items() if ms is not None
    )
    return [
        Metric("CPU-ms/order", RATIO, -1, _total, _ms),
        *(Metric(f"CPU-ms/order {name}", RATIO, -1, _cpu_of(name), _ms) for name in processes),
        Metric("of bound %", POINTS, +1, _fraction, percent),
    ]


def _ms(value: float | None) -> str:
    return number(value, 2)


@dataclass(frozen=True)
class Comparison:
    a: Run
    b: Run
    styles: list[str]  # run in both, in A's order
    warnings: list[str]
    runs: Table
    changes: Table


def compare(a: Run, b: Run) -> Comparison:
    styles = [style for style in a.styles if style in b.styles]
    metrics = [*LOAD_METRICS, *cpu_metrics(a, b), *AUDIT_METRICS]
    if a.scenario and b.scenario:
        metrics += SCENARIO_METRICS
    rows = tuple(
        _change_row(style, metric, a.styles[style], b.styles[style])
        for style in styles
        for metric in metrics
    )
    changes = Table(
        "changes",
        "What changed, style by style",
        "A is the first run named, B the second. change: B/A for rates and latencies (x2 is "
        "twice as many orders, or twice as slow), the difference in percentage points for "
        "success and errors, the difference for counts and seconds. Green is better, red "
        f"worse; changes under {NOTICEABLE_RATIO:g}x or {NOTICEABLE_POINTS:g} point are left "
        "unmarked (a short run's noise).",
        CHANGE_HEADERS,
        rows,
        "<<>>>",
    )
    return Comparison(a, b, styles, differences(a, b), runs_table(a, b), changes)


def _change_row(style: str, metric: Metric, a: StyleResult, b: StyleResult) -> tuple[Cell, ...]:
    before, after = metric.value(a), metric.value(b)
    text, delta = change(metric.change, before, after)
    return (
        *plain([style, metric.name, metric.show(before), metric.show(after)]),
        Cell(text, _mark(metric, delta)),
    )


def change(kind: str, a: float | None, b: float | None) -> tuple[str, float | None]:
    """The change from a to b as text, and as a number (None when there is none)."""
    if a is None or b is None:
        return MISSING, None
    if NEVER in (a, b):  # recovered in one run only, or in neither
        if a == b:
            return "0", 0.0
        return ("never recovered", NEVER) if b == NEVER else ("recovered", -NEVER)
    if kind == RATIO:
        return (f"x{b / a:.2f}", b / a) if a else (MISSING, None)
    if kind == POINTS:
        points = (b - a) * 100
        return f"{points:+.2f} pts", points
    return (f"{b - a:+g}" if b != a else "0"), b - a


def _mark(metric: Metric, delta: float | None) -> str:
    if delta is None or metric.better == 0 or not _noticeable(metric.change, delta):
        return ""
    up = delta > 1 if metric.change == RATIO else delta > 0
    return GOOD if up == (metric.better > 0) else BAD


def _noticeable(kind: str, delta: float) -> bool:
    if kind == RATIO:
        return delta >= NOTICEABLE_RATIO or delta <= 1 / NOTICEABLE_RATIO
    if kind == POINTS:
        return abs(delta) >= NOTICEABLE_POINTS
    return delta != 0


def differences(a: Run, b: Run) -> list[str]:
    """What makes the two runs less comparable than they look, one warning line each."""
    phrased = {
        KIND.name: "the runs differ in kind: A is a {} run, B a {} run",
        LOAD.name: "the load differs: A {}; B {}",
        TIME_SCALE.name: "the scenario's times were scaled {} in A, {} in B",
        MACHINE.name: "the runs were made on different machines (see the runs' table)",
    }
    compared = [aspect for aspect in ASPECTS if aspect is not PROFILE]  # what compare shows
    found = [
        phrased.get(aspect.name, f"the runs differ in {aspect.name}: A {{}}; B {{}}").format(*seen)
        for aspect, seen in unlike((a, b), compared)
    ]
    for name, run, other in (("A", a, b), ("B", b, a)):
        alone = [style for style in run.styles if style not in other.styles]
        if alone:
            found.append(f"only {name} ran {', '.join(alone)}: not compared")
    return found


def runs_table(a: Run, b: Run) -> Table:
    fields = (
        ("folder", lambda run: str(run.folder)),
        ("kind", lambda run: run.kind),
        ("command", lambda run: run.meta.command),
        ("started", lambda run: run.meta.started_at),
        ("load", lambda run: describe_load(run.meta)),
        ("profile", lambda run: run.meta.profile),
        ("stack", lambda run: describe_stack(run.meta)),
        ("machine", lambda run: describe_machine(run.meta.machine)),
    )
    rows = tuple(plain([name, read(a), read(b)]) for name, read in fields)
    return Table(
        "runs",
        "The two runs",
        "What each run was. The comparison means most when only one thing differs between "
        "them, such as the resilience profile under the same scenario.",
        ("", "A", "B"),
        rows,
        "<<<",
    )
