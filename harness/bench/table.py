"""Plain-text tables of a results document, for the terminal at the end of a run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
CPU_HEADERS = (
    "style",
    *CPU_PROCESSES,
    "total",
    "no-op (ms)",
    "bound",
    "of bound",
)
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


def side_by_side(document: dict[str, Any]) -> str:
    """One row per style, in the document's order, then the load generator's warnings."""
    styles: dict[str, Any] = document["styles"]
    rows = [side_by_side_row(style, result) for style, result in styles.items()]
    table = render(SIDE_BY_SIDE_HEADERS, rows, "<" + ">" * (len(SIDE_BY_SIDE_HEADERS) - 1))
    return "\n".join([table, *load_generator_warnings(styles)])


def load_generator_warnings(styles: dict[str, Any]) -> list[str]:
    """Each style's load-generator warnings (saturation, Locust's own), calibration included."""
    return [
        f"{style}{phase}: {warning}"
        for style, result in styles.items()
        for phase, load_generator in (
            ("", result.get("load_generator")),
            (" (calibration)", (result.get("calibration") or {}).get("load_generator")),
        )
        for warning in (load_generator or {}).get("warnings", [])
    ]


def side_by_side_row(style: str, result: dict[str, Any]) -> list[str]:
    summary = result["summary"]
    calibration = result.get("calibration") or {}
    return [
        style,
        number(summary["requests_per_s"]),
        number(summary["orders_per_s"]),
        *(number(summary[f"order_{name}_ms"]) for name in ("p50", "p95", "p99", "max")),
        percent(summary["error_rate"]),
        _ceiling(calibration),
        number(calibration.get("order_ratio"), decimals=2),
        _cpu(result.get("load_generator")),
    ]


def _ceiling(calibration: dict[str, Any]) -> str:
    # `!`: a Locust process ran near a full core during the no-op, so the ceiling is the load
    # generator's limit at least as much as the transport's.
    if not calibration:
        return MISSING
    mark = "!" if calibration.get("load_generator_limited") else " "
    return number(calibration.get("per_s")) + mark


def cpu_table(document: dict[str, Any]) -> str:
    """CPU-ms per completed order by process and in total, the bound and its share, then what
    the figures leave out."""
    styles: dict[str, Any] = document["styles"]
    rows = [cpu_row(style, result) for style, result in styles.items() if result.get("cpu")]
    if not rows:
        return "no CPU figures in this run"
    title = "CPU-ms per completed order (the mix's browse and look-up included)"
    lines = [title, render(CPU_HEADERS, rows, "<" + ">" * (len(CPU_HEADERS) - 1))]
    return "\n".join(lines + cpu_notes(styles))


def cpu_row(style: str, result: dict[str, Any]) -> list[str]:
    cpu = result["cpu"]
    found = cpu.get("bound") or {}
    return [
        style,
        *(number(cpu["processes"].get(name), 2) for name in CPU_PROCESSES),
        number(cpu["total_ms"], 2),
        number(found.get("noop_ms"), 3),
        number(found.get("cpu_ms_per_order"), 2),
        MISSING if cpu["bound_fraction"] is None else f"{cpu['bound_fraction']:.0%}",
    ]


def cpu_notes(styles: dict[str, Any]) -> list[str]:
    """What the totals leave out, once per reason, and which ceilings were the generator's."""
    reasons: dict[str, list[str]] = {}
    for result in styles.values():
        for name, why in ((result.get("cpu") or {}).get("not_attributed") or {}).items():
            reasons.setdefault(why, [])
            if name not in reasons[why]:
                reasons[why].append(name)
    notes = [f"not counted: {', '.join(names)}: {why}" for why, names in reasons.items()]
    limited = [
        style
        for style, result in styles.items()
        if (result.get("calibration") or {}).get("load_generator_limited")
    ]
    if limited:
        notes.append(
            f"ceiling marked ! ({', '.join(limited)}): a Locust process ran near a full core"
            " during the no-op, so it is the load generator's limit as much as the transport's"
        )
    return notes


def _cpu(load_generator: dict[str, Any] | None) -> str:
    if not load_generator:
        return MISSING
    # A space where the mark would be, so the numbers of every row stay aligned.
    mark = "!" if load_generator["saturated"] else " "
    return f"{load_generator['cpu_cores']:.2f} cores{mark}"


def operations_table(document: dict[str, Any]) -> str:
    rows = [
        operation_row(style, operation, stats)
        for style, result in document["styles"].items()
        for operation, stats in result["operations"].items()
    ]
    return render(OPERATION_HEADERS, rows, "<<" + ">" * (len(OPERATION_HEADERS) - 2))


def operation_row(style: str, operation: str, stats: dict[str, Any]) -> list[str]:
    return [
        style,
        operation,
        str(stats["count"]),
        number(stats["per_s"]),
        *(number(stats[f"{name}_ms"]) for name in ("p50", "p95", "p99", "max")),
        percent(stats["error_rate"]),
    ]


def capacity_table(document: dict[str, Any]) -> str:
    """Each style's highest held rate, then its steps in the order they ran."""
    capacity = document.get("capacity")
    if capacity is None:
        return "no capacity search in this run"
    title = (
        f"capacity: p99 <= {capacity['slo_p99_ms']:g} ms and errors below "
        f"{capacity['max_error_rate'] * 100:g} %, {capacity['step_s']:g} s per step"
    )
    rows = [capacity_row(style, search, capacity) for style, search in capacity["styles"].items()]
    return title + "\n" + render(("style", "held rate/s", "steps"), rows, "<><")


def capacity_row(style: str, search: dict[str, Any], capacity: dict[str, Any]) -> list[str]:
    held_rate = search["held_rate"]
    held = "none held" if held_rate is None else f"{held_rate:g}"
    steps = ", ".join(_step(step, capacity) for step in search["steps"])
    return [style, held, steps]


def _step(step: dict[str, Any], capacity: dict[str, Any]) -> str:
    p99 = step["p99_ms"]
    latency = "no samples" if p99 is None else f"{p99:.0f}ms"
    return f"{step['rate']:g}/s {latency} {_verdict(step, capacity)}"


def _verdict(step: dict[str, Any], capacity: dict[str, Any]) -> str:
    if step["held"]:
        return "ok"
    reasons = []
    if step["p99_ms"] is not None and step["p99_ms"] > capacity["slo_p99_ms"]:
        reasons.append("over SLO")
    if step["error_rate"] >= capacity["max_error_rate"]:
        reasons.append(f"errors {percent(step['error_rate'])}%")
    if step.get("load_generator_saturated"):
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


def expectations_failed(result: dict[str, Any]) -> bool:
    """Whether a style's run missed any of its scenario's expectations."""
    checks = (result.get("scenario") or {}).get("expectations", [])
    return any(not check["passed"] for check in checks)


def audit_table(document: dict[str, Any]) -> str:
    """The audit of each style's run; a count that breaks an invariant is marked with `!`, a
    scenario's expectation not met with FAILED."""
    rows = [audit_row(style, result) for style, result in document["styles"].items()]
    return render(AUDIT_HEADERS, rows, "<" + ">" * (len(AUDIT_HEADERS) - 2) + "<")


def scenario_table(document: dict[str, Any]) -> str:
    """A scenario's failure isolation, one row per style, and what did not go as planned."""
    section, styles = document["scenario"], document["styles"]
    isolation = [isolation_row(style, result["scenario"]) for style, result in styles.items()]
    faults = "; ".join(section["faults"]) or "no faults"
    failed = [
        f"{style}: {fault['description']}: {error}"
        for style, result in styles.items()
        for fault in result["scenario"]["faults"]
        for error in fault["errors"]
    ]
    stopped = section.get("stopped")
    return "\n".join(
        [
            f"Scenario {section['name']}: {faults}",
            "",
            render(ISOLATION_HEADERS, isolation, "<" + ">" * (len(ISOLATION_HEADERS) - 1)),
            *(f"fault not as planned! {line}" for line in failed),
            *([f"stopped at {stopped['style']}: {stopped['error']}"] if stopped else []),
        ]
    )


def isolation_row(style: str, scenario: dict[str, Any]) -> list[str]:
    phases = scenario["phases"]
    orders = [phases.get(p, {}).get("operations", {}).get("order_completed", {}) for p in PHASES]
    ok = [phases.get(p, {}).get("order_success_ratio") for p in PHASES]
    spared = scenario["blast_radius"]["operations"].values()
    worst = min((op["success_ratio_during"] for op in spared), default=None)
    broker = scenario["broker"]
    dead = broker["dead_lettered"]
    return [
        style,
        "/".join(percent(ratio) for ratio in ok),
        "/".join(number(o.get("p99_ms"), 0) for o in orders),
        number(scenario["p99_inflation"].get("order_completed")),
        percent(worst),
        number(scenario["recovery_s"], 0),
        str(max(broker["max_depth"].values(), default=0)),
        MISSING if dead is None else str(sum(dead.values())),
    ]


def audit_row(style: str, result: dict[str, Any]) -> list[str]:
    audit = result.get("audit") or {}
    if "counts" not in audit:  # the audit could not read the books
        return [style, *(MISSING for _ in AUDIT_COUNTS), MISSING]
    counts = audit["counts"]
    checks = (result.get("scenario") or {}).get("expectations", [])
    verdict = "FAILED" if expectations_failed(result) else ("met" if checks else MISSING)
    cells = [  # a count newer than the run (missing_notifications) shows as MISSING
        f"{counts[name]}{'!' if breaks_invariant(name, counts[name]) else ''}"
        if name in counts
        else MISSING
        for name in AUDIT_COUNTS
    ]
    return [style, *cells, verdict]
