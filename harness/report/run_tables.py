"""The tables of every run's report: the styles side by side, their operations, the audit,
the capacity search and the errors (a scenario run's own tables are in scenario_tables.py)."""

from __future__ import annotations

from harness.bench import table as terminal
from harness.bench.results_model import StyleResult
from harness.bench.results_scenario_model import AuditError
from harness.report.cells import BAD, NOTE, Cell, Table, marked, plain, right_aligned
from harness.report.model import Run
from harness.vocabulary import AUDIT_COUNTS, store_name


def side_by_side(run: Run) -> Table:
    headers = terminal.SIDE_BY_SIDE_HEADERS
    rows = []
    for style, result in run.styles.items():
        texts = terminal.side_by_side_row(style, result)
        saturated = result.load_generator.saturated
        rows.append(marked(texts, [""] * (len(texts) - 1) + [NOTE if saturated else ""]))
    return Table(
        "side-by-side",
        "Every style side by side",
        "Each style ran the same shopping mix under the same load. orders/s is orders that "
        "reached their final status; the order latencies (ms) run from placing an order to the "
        "client seeing it confirmed, cancelled or rejected. ceiling/s is a no-op over the same "
        "protocol (the transport alone); orders÷ceiling is the share of it the whole flow "
        "reaches. A ceiling marked ! was the load generator's limit (a Locust process near a "
        "full core during the no-op). A load generator marked ! ran out of CPU: its numbers "
        "are a floor.",
        headers,
        tuple(rows),
        right_aligned(len(headers)),
    )


def cpu(run: Run) -> Table | None:
    """CPU-ms per completed order by process, the bound and its share; None for a run without
    CPU figures (a scenario run, or results from before they were measured)."""
    processes = terminal.cpu_processes(run.styles)
    rows = tuple(
        plain(terminal.cpu_row(style, result, processes))
        for style, result in run.styles.items()
        if result.cpu
    )
    if not rows:
        return None
    notes = " ".join(f"{note[0].upper()}{note[1:]}." for note in terminal.cpu_notes(run.styles))
    store = store_name(run.meta.store)  # whose bare transaction priced the bound
    return Table(
        "cpu",
        "CPU per completed order",
        "CPU-milliseconds each process used per completed order while the load ran (the mix's "
        "browse and look-up included), and their total. bound is what an order would cost if "
        "each of its hops cost the style's no-op (no-op, server and client side) and each store "
        f"transaction a bare {store} one; of bound is bound ÷ total, the share of what "
        f"this machine allows that the style reaches (docs/bench.md). {notes}",
        terminal.cpu_headers(processes),
        rows,
        right_aligned(len(terminal.cpu_headers(processes))),
    )


def operations(run: Run) -> Table:
    rows = tuple(
        plain(terminal.operation_row(style, operation, stats))
        for style, result in run.styles.items()
        for operation, stats in result.operations.items()
    )
    return Table(
        "operations",
        "Each operation",
        "The mix's operations one by one (latencies in ms). place_order is the request that "
        "places the order; order_completed is the same order once its outcome reached the "
        "client, so it is the one the customer waits for.",
        terminal.OPERATION_HEADERS,
        rows,
        right_aligned(len(terminal.OPERATION_HEADERS), left=2),
    )


def audit(run: Run) -> Table:
    rows = tuple(_audit_cells(style, result) for style, result in run.styles.items())
    return Table(
        "audit",
        "The audit: did every order end as the rules say?",
        "After each style's load the stores were read and the invariants checked. Every count "
        "should be 0; a red one (marked !) is an order lost or stuck, money taken twice or "
        "kept, stock that does not add up, or a customer never told how an order ended "
        "(unnotified). Duplicate notifications (amber) were redeliveries "
        "that the notification service recognised and did not send again. expect: whether the "
        "scenario's expectations held.",
        terminal.AUDIT_HEADERS,
        rows,
        right_aligned(len(terminal.AUDIT_HEADERS) - 1) + "<",
    )


def _audit_cells(style: str, result: StyleResult) -> tuple[Cell, ...]:
    texts = terminal.audit_row(style, result)
    counts = terminal.counts_of(result)
    found = [None if counts is None else terminal.count(counts, name) for name in AUDIT_COUNTS]
    marks = [""] + [
        _count_mark(name, count) for name, count in zip(AUDIT_COUNTS, found, strict=True)
    ]
    return marked(texts, [*marks, BAD if texts[-1] == "FAILED" else ""])


def _count_mark(name: str, count: int | None) -> str:
    if not count:
        return ""
    return BAD if terminal.breaks_invariant(name, count) else NOTE


def audit_problems(run: Run) -> list[str]:
    """`style: example` for each problem the audit found (up to ten of each), and the styles
    whose books could not be read at all."""
    found = []
    for style, result in run.styles.items():
        if isinstance(result.audit, AuditError):
            found.append(f"{style}: the audit could not read the books: {result.audit.error}")
            continue
        for examples in result.audit.examples.values() if result.audit else []:
            found.extend(f"{style}: {example}" for example in examples)
    return found


def capacity(run: Run) -> Table | None:
    section = run.results.capacity
    if section is None:
        return None
    rows = tuple(
        plain(terminal.capacity_row(style, search, section))
        for style, search in section.styles.items()
    )
    return Table(
        "capacity",
        "Capacity search",
        f"The open-model rate was raised step by step ({section.step_s:g} s each) until a "
        f"step missed p99 <= {section.slo_p99_ms:g} ms or had "
        f"{section.max_error_rate * 100:g} % errors or more. held rate/s is the highest "
        "step that held: the most this style carried here within the objective.",
        ("style", "held rate/s", "steps"),
        rows,
        "<><",
    )


def errors(run: Run) -> Table | None:
    rows = tuple(
        plain((style, operation, message, str(count)))
        for style, result in run.styles.items()
        for operation, stats in result.operations.items()
        for message, count in stats.errors.items()
    )
    if not rows:
        return None
    return Table(
        "errors",
        "What the errors were",
        "The most frequent error messages of each operation, as the load generator saw them.",
        ("style", "operation", "error", "count"),
        rows,
        "<<<>",
    )


def warnings(run: Run) -> list[str]:
    """The load generator's warnings and, for a scenario that stopped, where and why."""
    found = terminal.load_generator_warnings(run.styles)
    stopped = run.scenario.stopped if run.scenario else None
    if stopped:
        found.append(f"the scenario stopped at {stopped.style}: {stopped.error}")
    return found
