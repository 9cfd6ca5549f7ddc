"""Plain-text tables of a results document, for the terminal at the end of a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.bench import cost
from harness.bench.results_model import (
    Calibration,
    Capacity,
    CapacityStep,
    CpuPerCall,
    LoadGenerator,
    OperationStats,
    Results,
    StyleCapacity,
    StyleResult,
)
from harness.bench.results_scenario_model import Audit, Counts, StyleScenario
from harness.vocabulary import AUDIT_COUNTS, NOT_INVARIANTS, PHASES

MISSING = "-"
SIDE_BY_SIDE_HEADERS = (
    "style",
    "req/s",
    "orders/s",
    "order p50",
    "p95",
    "p99",
    "max (ms)",
    "errors %",
    "ceiling/s",
    "orders÷ceiling",
    "loadgen CPU",
)
CPU_PROCESSES = ("order", "inventory", "payment", "notification", "locust")
CPU_TAIL = ("total", "no-op (ms)", "bound", "of bound")
CPU_HEADERS = ("style", *CPU_PROCESSES, *CPU_TAIL)
# Processes some runs measure too (--store postgres: the backends serving the stack;
# --private-broker: the run's own RabbitMQ node), each shown in a column of its own only where
# a style has a figure for it.
CPU_OPTIONAL = ("postgresql", "rabbitmq")
OPERATION_HEADERS = ("style", "operation", "count", "per_s", "p50", "p95", "p99", "max", "errors %")


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], aligns: str) -> str:
    """Columns as wide as their widest cell; aligns holds one '<' or '>' per column."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    rule = ["-" * width for width in widths]
    lines = [headers, rule, *rows]
    return "\n".join(_line(cells, widths, aligns) for cells in lines)


def _line(cells: Sequence[str], widths: Sequence[int], aligns: str) -> str:
    padded = (
        f"{cell:{align}{width}}" for cell, width, align in zip(cells, widths, aligns, strict=True)
    )
    return "  ".join(padded).rstrip()


def number(value: float | None, decimals: int = 1) -> str:
    return MISSING if value is None else f"{value:.{decimals}f}"


def percent(fraction: float | None) -> str:
    return MISSING if fraction is None else f"{fraction * 100:.2f}"


def by_style(document: Results) -> dict[str, StyleResult]:
    """Each style's result, in the order they ran, by its name."""
    return dict(document.styles.items())


def side_by_side(document: Results) -> str:
    """One row per style, in the document's order, then the load generator's warnings."""
    styles = by_style(document)
    rows = [side_by_side_row(style, result) for style, result in styles.items()]
    table = render(SIDE_BY_SIDE_HEADERS, rows, "<" + ">" * (len(SIDE_BY_SIDE_HEADERS) - 1))
    return "\n".join([table, *load_generator_warnings(styles)])


def load_generator_warnings(styles: Mapping[str, StyleResult]) -> list[str]:
    """Each style's load-generator warnings (saturation, Locust's own), its no-ops' included;
    a warning every style's load had (remote workers) once, for every style."""
    places: dict[str, list[str]] = {}
    for style, result in styles.items():
        calibration = result.calibration
        after_load = calibration.after_load if calibration else None
        for phase, load_generator in (
            ("", result.load_generator),
            (" (calibration)", calibration and calibration.load_generator),
            (" (no-op after the load)", after_load and after_load.load_generator),
        ):
            for warning in load_generator.warnings if load_generator else []:
                places.setdefault(warning, []).append(f"{style}{phase}")
    return [f"{_where(where, styles)}: {warning}" for warning, where in places.items()]


def _where(places: list[str], styles: Mapping[str, StyleResult]) -> str:
    if len(styles) > 1 and set(styles) <= set(places):
        return "every style"
    return ", ".join(places)


def side_by_side_row(style: str, result: StyleResult) -> list[str]:
    summary, calibration = result.summary, result.calibration
    order_ms = (summary.order_p50_ms, summary.order_p95_ms, summary.order_p99_ms)
    return [
        style,
        number(summary.requests_per_s),
        number(summary.orders_per_s),
        *(number(ms) for ms in (*order_ms, summary.order_max_ms)),
        percent(summary.error_rate),
        _ceiling(calibration),
        number(calibration.order_ratio if calibration else None, decimals=2),
        _cpu(result.load_generator),
    ]


def _ceiling(calibration: Calibration | None) -> str:
    # `!`: a Locust process ran near a full core during the no-op, so the ceiling is the load
    # generator's limit at least as much as the transport's.
    if calibration is None:
        return MISSING
    mark = "!" if calibration.load_generator_limited else " "
    return number(calibration.per_s) + mark


def cpu_table(document: Results) -> str:
    """CPU-ms per completed order by process and in total, the bound and its share, then what
    the figures leave out."""
    styles = by_style(document)
    processes = cpu_processes(styles)
    rows = [cpu_row(style, result, processes) for style, result in styles.items() if result.cpu]
    if not rows:
        return "no CPU figures in this run"
    title = "CPU-ms per completed order (the mix's browse and look-up included)"
    headers = cpu_headers(processes)
    lines = [title, render(headers, rows, "<" + ">" * (len(headers) - 1))]
    return "\n".join(lines + cpu_notes(styles))


def cpu_processes(styles: Mapping[str, StyleResult]) -> tuple[str, ...]:
    """The processes the CPU table has a column for: the stack's and Locust, then any optional
    one a style measured."""
    measured = {name for r in styles.values() if r.cpu for name in r.cpu.processes}
    return CPU_PROCESSES + tuple(name for name in CPU_OPTIONAL if name in measured)


def cpu_headers(processes: tuple[str, ...] = CPU_PROCESSES) -> tuple[str, ...]:
    return ("style", *processes, *CPU_TAIL)


def cpu_row(
    style: str, result: StyleResult, processes: tuple[str, ...] = CPU_PROCESSES
) -> list[str]:
    """The row of a style that has CPU figures (result.cpu)."""
    cpu = result.cpu
    assert cpu is not None  # the tables list only the styles that have them
    bound = cpu.bound
    return [
        style,
        *(number(cpu.processes.get(name), 2) for name in processes),
        number(cpu.total_ms, 2),
        number(bound.noop_ms if bound else None, 3),
        number(bound.cpu_ms_per_order if bound else None, 2),
        MISSING if cpu.bound_fraction is None else f"{cpu.bound_fraction:.0%}",
    ]


def cpu_notes(styles: Mapping[str, StyleResult]) -> list[str]:
    """What the totals leave out, once per reason, and which ceilings were the generator's."""
    reasons: dict[str, list[str]] = {}
    for result in styles.values():
        for name, why in (result.cpu.not_attributed if result.cpu else {}).items():
            reasons.setdefault(why, [])
            if name not in reasons[why]:
                reasons[why].append(name)
    notes = [f"not counted: {', '.join(names)}: {why}" for why, names in reasons.items()]
    limited = [
        style
        for style, result in styles.items()
        if result.calibration and result.calibration.load_generator_limited
    ]
    if limited:
        notes.append(
            f"ceiling marked ! ({', '.join(limited)}): a Locust process ran near a full core"
            " during the no-op, so it is the load generator's limit as much as the transport's"
        )
    return notes + drift_notes(styles) + stand_in_notes(styles)


def drift_notes(styles: Mapping[str, StyleResult]) -> list[str]:
    """How much each style's no-op price moved from before its load to after it: the machine's
    drift over the style's run, which the bound's mean price evens out but does not remove
    (docs/bench.md, the no-op before and after the load)."""
    moved = []
    for style, result in styles.items():
        calibration = result.calibration
        after = calibration.after_load if calibration else None
        if calibration is None or after is None:
            continue
        before = calibration.cpu_ms_per_call_before_load
        drift = cost.price_drift(_price(before), _price(after.cpu_ms_per_call))
        if drift is not None:
            moved.append(f"{style} {drift:+.0%}")
    if not moved:
        return []
    return [
        f"no-op price after the load vs before it: {', '.join(moved)} (the bound prices their"
        " mean; a large move says the machine's speed changed during the run)"
    ]


def _price(price: CpuPerCall | None) -> cost.Price | None:
    return None if price is None else price.model_dump()


def stand_in_notes(styles: Mapping[str, StyleResult]) -> list[str]:
    """Which bounds priced a transport at the style's own no-op: this run did not calibrate it
    (docs/bench.md, CPU per order and the bound)."""
    notes = []
    for style, result in styles.items():
        bound = result.cpu.bound if result.cpu else None
        if bound is not None and bound.stand_ins:
            notes.append(
                f"bound of {style}: {', '.join(bound.stand_ins)} priced at {style}'s own no-op"
                " (not calibrated in this run: bench it too for its own price)"
            )
    return notes


def _cpu(load_generator: LoadGenerator) -> str:
    # A space where the mark would be, so the numbers of every row stay aligned.
    mark = "!" if load_generator.saturated else " "
    return f"{load_generator.cpu_cores:.2f} cores{mark}"


def operations_table(document: Results) -> str:
    rows = [
        operation_row(style, operation, stats)
        for style, result in document.styles.items()
        for operation, stats in result.operations.items()
    ]
    return render(OPERATION_HEADERS, rows, "<<" + ">" * (len(OPERATION_HEADERS) - 2))


def operation_row(style: str, operation: str, stats: OperationStats) -> list[str]:
    return [
        style,
        operation,
        str(stats.count),
        number(stats.per_s),
        *(number(ms) for ms in (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms)),
        percent(stats.error_rate),
    ]


def capacity_table(document: Results) -> str:
    """Each style's highest held rate, then its steps in the order they ran."""
    capacity = document.capacity
    if capacity is None:
        return "no capacity search in this run"
    title = (
        f"capacity: p99 <= {capacity.slo_p99_ms:g} ms and errors below "
        f"{capacity.max_error_rate * 100:g} %, {capacity.step_s:g} s per step"
    )
    rows = [capacity_row(style, search, capacity) for style, search in capacity.styles.items()]
    return title + "\n" + render(("style", "held rate/s", "steps"), rows, "<><")


def capacity_row(style: str, search: StyleCapacity, capacity: Capacity) -> list[str]:
    held_rate = search.held_rate
    held = "none held" if held_rate is None else f"{held_rate:g}"
    steps = ", ".join(_step(step, capacity) for step in search.steps)
    return [style, held, steps]


def _step(step: CapacityStep, capacity: Capacity) -> str:
    p99 = step.p99_ms
    latency = "no samples" if p99 is None else f"{p99:.0f}ms"
    return f"{step.rate:g}/s {latency} {_verdict(step, capacity)}"


def _verdict(step: CapacityStep, capacity: Capacity) -> str:
    if step.held:
        return "ok"
    reasons = []
    if step.p99_ms is not None and step.p99_ms > capacity.slo_p99_ms:
        reasons.append("over SLO")
    if step.error_rate >= capacity.max_error_rate:
        reasons.append(f"errors {percent(step.error_rate)}%")
    if step.load_generator_saturated:
        reasons.append("load generator saturated")
    return " and ".join(reasons) or "not held"


ISOLATION_HEADERS = (
    "style",
    "orders ok % before/during/after",
    "order p99 ms before/during/after",
    "p99 inflation",
    "spared ops ok % during",
    "recovery s",
    "max queue",
    "dead-lettered",
)
AUDIT_HEADERS = (
    "style",
    "lost",
    "stuck",
    "double",
    "unrefunded",
    "unpaid",
    "stock",
    "unnotified",
    "dup. notif.",
    "expect",
)


def breaks_invariant(name: str, count: int | None) -> bool:
    """Whether an audit count says something went wrong (any count above 0 but NOT_INVARIANTS')."""
    return bool(count) and name not in NOT_INVARIANTS


def expectations_failed(result: StyleResult) -> bool:
    """Whether a style's run missed any of its scenario's expectations."""
    checks = result.scenario.expectations if result.scenario else []
    return any(not check.passed for check in checks)


def counts_of(result: StyleResult) -> Counts | None:
    """The audit's counts, or None when the audit could not read the books (or did not run)."""
    return result.audit.counts if isinstance(result.audit, Audit) else None


def count(counts: Counts, name: str) -> int | None:
    """One count by its vocabulary name; None for a count newer than the run."""
    found: int | None = getattr(counts, name)
    return found


def audit_table(document: Results) -> str:
    """The audit of each style's run; a count that breaks an invariant is marked with `!`, a
    scenario's expectation not met with FAILED."""
    rows = [audit_row(style, result) for style, result in document.styles.items()]
    return render(AUDIT_HEADERS, rows, "<" + ">" * (len(AUDIT_HEADERS) - 2) + "<")


def scenario_table(document: Results) -> str:
    """A scenario's failure isolation, one row per style, and what did not go as planned."""
    section, styles = document.scenario, scenario_results(by_style(document))
    assert section is not None  # a scenario run's document
    isolation = [isolation_row(style, scenario) for style, scenario in styles.items()]
    faults = "; ".join(section.faults) or "no faults"
    failed = [
        f"{style}: {fault.description}: {error}"
        for style, scenario in styles.items()
        for fault in scenario.faults
        for error in fault.errors
    ]
    stopped = section.stopped
    return "\n".join(
        [
            f"Scenario {section.name}: {faults}",
            "",
            render(ISOLATION_HEADERS, isolation, "<" + ">" * (len(ISOLATION_HEADERS) - 1)),
            *(
                line
                for style, scenario in styles.items()
                for line in replica_lines(style, scenario)
            ),
            *(f"fault not as planned! {line}" for line in failed),
            *([f"stopped at {stopped.style}: {stopped.error}"] if stopped else []),
        ]
    )


def replica_lines(style: str, scenario: StyleScenario) -> list[str]:
    """With replicas: each killed order replica's takeover, and each service's spread."""
    lines = []
    for takeover in scenario.takeovers or []:
        if takeover.error:
            outcome = f"not measured: {takeover.error}"
        elif not takeover.left:
            outcome = "it left no order unfinished"
        elif takeover.recovery_s is None:
            outcome = f"{takeover.still_open} of them still open at the end"
        else:
            outcome = f"all finished {takeover.recovery_s:g} s after the kill"
        left = f"left {takeover.left} order(s)" if takeover.left else ""
        lines.append(
            f"{style}: {takeover.replica} killed at {takeover.killed_s:g} s"
            f"{', ' + left if left else ''}: {outcome}"
        )
    for service, replicas in (scenario.replicas or {}).items():
        shares = ", ".join(
            f"{name} {spread.share:.0%}" if spread.share is not None else f"{name} -"
            for name, spread in replicas.items()
        )
        lines.append(f"{style}: {service} requests per replica: {shares}")
    return lines


def scenario_results(styles: Mapping[str, StyleResult]) -> dict[str, StyleScenario]:
    """Each style's scenario section (every style of a scenario run has one)."""
    found = {style: result.scenario for style, result in styles.items()}
    return {style: scenario for style, scenario in found.items() if scenario is not None}


def isolation_row(style: str, scenario: StyleScenario) -> list[str]:
    phases = [scenario.phases.get(name) for name in PHASES]
    orders = [phase.operations.get("order_completed") if phase else None for phase in phases]
    ok = [phase.order_success_ratio if phase else None for phase in phases]
    spared = scenario.blast_radius.operations.values()
    during = [op.success_ratio_during for op in spared]
    worst = min((ratio for ratio in during if ratio is not None), default=None)
    broker = scenario.broker
    dead = broker.dead_lettered
    return [
        style,
        "/".join(percent(ratio) for ratio in ok),
        "/".join(number(order.p99_ms if order else None, 0) for order in orders),
        number(scenario.p99_inflation.get("order_completed")),
        percent(worst),
        number(scenario.recovery_s, 0),
        str(max(broker.max_depth.values(), default=0)),
        MISSING if dead is None else str(sum(dead.values())),
    ]


def audit_row(style: str, result: StyleResult) -> list[str]:
    counts = counts_of(result)
    if counts is None:  # the audit could not read the books
        return [style, *(MISSING for _ in AUDIT_COUNTS), MISSING]
    checks = result.scenario.expectations if result.scenario else []
    verdict = "FAILED" if expectations_failed(result) else ("met" if checks else MISSING)
    found = [count(counts, name) for name in AUDIT_COUNTS]
    cells = [  # a count newer than the run (missing_notifications) shows as MISSING
        MISSING if value is None else f"{value}{'!' if breaks_invariant(name, value) else ''}"
        for name, value in zip(AUDIT_COUNTS, found, strict=True)
    ]
    return [style, *cells, verdict]
