"""The tables of a scenario run: how each style isolated the failure, phase by phase, which
operations the faults spared, the faults as they happened and the scenario's expectations."""

from __future__ import annotations

from harness.bench import table as terminal
from harness.bench.results_scenario_model import Fault, Phase, StyleScenario
from harness.bench.table import number, percent
from harness.report.cells import BAD, Cell, Table, marked, plain, right_aligned
from harness.report.model import Run
from harness.vocabulary import PHASES

ISOLATION_HEADERS = (*terminal.ISOLATION_HEADERS, "poison sent")
PHASE_HEADERS = (
    "style",
    "phase",
    "seconds",
    "orders ok %",
    "orders/s",
    "order p50",
    "order p99 (ms)",
    "all requests ok %",
)


def tables(run: Run) -> list[Table]:
    """Every scenario table with something to show, in reading order."""
    found = [
        isolation(run),
        phases(run),
        spared(run),
        faults(run),
        takeovers(run),
        expectations(run),
    ]
    return [table for table in found if table.rows]


def isolation(run: Run) -> Table:
    styles = _scenarios(run)
    rows = tuple(
        plain(
            [
                *terminal.isolation_row(style, scenario),
                str(scenario.broker.poison_published),
            ]
        )
        for style, scenario in styles.items()
    )
    return Table(
        "isolation",
        "Failure isolation at a glance",
        "Orders that ended as promised over orders attempted, and the order's p99, before, "
        "during and after the faults. p99 inflation: the order's p99 during over before (1.0: "
        "untouched). spared ops: the worst success of the operations that need none of the "
        "faulted parts (the blast radius: ideally 100). recovery: seconds after the last fault "
        "until orders were as before; - means never within the run. The queue and "
        "dead-letter columns are the broker's (max depth of any queue).",
        ISOLATION_HEADERS,
        rows,
        right_aligned(len(ISOLATION_HEADERS)),
    )


def phases(run: Run) -> Table:
    styles = _scenarios(run)
    rows = tuple(
        _phase_row(style, name, phase)
        for style, scenario in styles.items()
        for name in PHASES
        if (phase := scenario.phases.get(name)) is not None
    )
    return Table(
        "phases",
        "Phase by phase",
        "The run split at the faults: before (after the warm-up), during (first fault's start "
        "to last fault's end, as they really happened) and after. Compare a style's during "
        "row with its before row; the after row shows whether it came back.",
        PHASE_HEADERS,
        rows,
        right_aligned(len(PHASE_HEADERS), left=2),
    )


def _phase_row(style: str, name: str, phase: Phase) -> tuple[Cell, ...]:
    order = phase.operations.get("order_completed")
    return plain(
        [
            style,
            name,
            f"{phase.from_s:g}-{phase.to_s:g}",
            percent(phase.order_success_ratio),
            number(phase.orders_per_s),
            number(order.p50_ms if order else None),
            number(order.p99_ms if order else None),
            percent(phase.success_ratio),
        ]
    )


def takeovers(run: Run) -> Table:
    """Each killed order replica, and the others finishing what it left (replicas only)."""
    rows = tuple(
        plain(
            [
                style,
                takeover.replica,
                f"{takeover.killed_s:g}",
                str(takeover.left),
                number(takeover.finished_s),
                number(takeover.recovery_s, 2),
                str(takeover.still_open),
            ]
        )
        for style, scenario in _scenarios(run).items()
        for takeover in scenario.takeovers or []
    )
    return Table(
        "takeovers",
        "A killed replica's orders, taken over",
        "Each order replica a crash killed: the orders it left unfinished (its claimed open "
        "sagas; in the broker style every order open at the kill), read from the order "
        "database, and the seconds from the kill until the last of them was finished "
        "(recovery; - when nothing was left, or it was not over by the audit's end).",
        ("style", "replica", "killed at s", "left", "finished at s", "recovery s", "still open"),
        rows,
        "<<>>>>>",
    )


def spared(run: Run) -> Table:
    styles = _scenarios(run)
    rows = tuple(
        plain(
            [
                style,
                ", ".join(scenario.blast_radius.faulted),
                operation,
                percent(stats.success_ratio_before),
                percent(stats.success_ratio_during),
                number(stats.p99_inflation, 2),
            ]
        )
        for style, scenario in styles.items()
        for operation, stats in scenario.blast_radius.operations.items()
    )
    return Table(
        "blast-radius",
        "The blast radius: operations that should not have noticed",
        "These operations use none of the faulted parts (browsing the catalog while payment "
        "is down). If their success drops or their p99 inflates during the faults, the failure "
        "spread further than it had to.",
        ("style", "faulted", "operation", "ok % before", "ok % during", "p99 inflation"),
        rows,
        "<<<>>>",
    )


def faults(run: Run) -> Table:
    styles = _scenarios(run)
    rows = tuple(
        _fault_row(style, fault) for style, scenario in styles.items() for fault in scenario.faults
    )
    return Table(
        "faults",
        "The faults as they happened",
        "Seconds from the start of each style's load: planned, then when each fault really "
        "began and ended (a crashed service ends when its restart is ready, so later than "
        "planned). The shaded bands of the charts below are these windows.",
        ("style", "fault", "planned s", "began s", "ended s", "problems"),
        rows,
        "<<>>><",
    )


def _fault_row(style: str, fault: Fault) -> tuple[Cell, ...]:
    start, end = fault.planned_s
    problems = "; ".join(fault.errors)
    texts = [
        style,
        fault.description,
        f"{start:g}-{end:g}",
        number(fault.began_s, 2),
        number(fault.ended_s, 2),
        problems or "none",
    ]
    return marked(texts, ["", "", "", "", "", BAD if problems else ""])


def expectations(run: Run) -> Table:
    styles = _scenarios(run)
    rows = tuple(
        marked(
            [style, check.check, _seen(check.seen), "met" if check.passed else "FAILED"],
            ["", "", "", "" if check.passed else BAD],
        )
        for style, scenario in styles.items()
        for check in scenario.expectations
    )
    return Table(
        "expectations",
        "What the scenario expected",
        "The scenario file's promises for each style, checked after the run; a FAILED one "
        "makes `orderflow bench` exit 3.",
        ("style", "check", "seen", "verdict"),
        rows,
        "<<><",
    )


def _seen(value: float | None) -> str:
    return terminal.MISSING if value is None else f"{value:g}"


def _scenarios(run: Run) -> dict[str, StyleScenario]:
    return terminal.scenario_results(run.styles)
