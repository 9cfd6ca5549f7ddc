"""The scenario report's trace of an order during the fault: per style, the longest traced
order that was in flight while a fault was on (its retries, the breaker failing it fast, the
outbox waiting for the broker), drawn as the other waterfalls are.

The style's load start (results.json's `telemetry.started_at`) places the fault windows, which
are in seconds from it, on the spans' clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from markupsafe import Markup

from harness.bench.results_model import StyleResult
from harness.report import html
from harness.report.model import Run
from harness.report.series import Window, fault_windows
from harness.report.waterfalls import waterfall
from harness.traces.orders import StyleTraces, Trace, by_style
from harness.traces.waterfall import total_ms

HOW_TO_READ: Final = (
    "Per style, the longest traced order in flight while a fault was on, span by span as in "
    "the waterfalls: retried calls repeat, a call the open breaker refused ends at once with no "
    "span in the service it guards, and an event waits in the outbox (the gap before its "
    "publish) while the broker is away. Its start is given in seconds from the load's start, "
    "with the fault it went through."
)


def fault_traces(run: Run) -> list[Markup]:
    """A waterfall per style that traced an order during a fault (none for a plain run)."""
    if not run.scenario:
        return []
    drawn = []
    for found in by_style(run.folder, list(run.styles)):
        during = order_during_fault(found, run.styles[found.style])
        if during is not None:
            trace, at_s, window = during
            title = (
                f"{found.style}: an order begun at {at_s:.1f} s, through '{window.label}',"
                f" {total_ms(trace):.1f} ms"
            )
            drawn.append(html.svg(waterfall(title, trace, f"fault-trace-{found.style}")))
    return drawn


def order_during_fault(
    found: StyleTraces, result: StyleResult
) -> tuple[Trace, float, Window] | None:
    """The longest traced order in flight during a fault window (begun before it ended, ended
    after it began: a broker order waiting out an outage began before it), with its start in
    seconds from the load's start and the window; None without one."""
    if result.telemetry is None or result.scenario is None or not result.scenario.faults:
        return None
    zero = result.telemetry.started_at
    windows = fault_windows(result.scenario.faults, float("inf"))
    best: tuple[Trace, float, Window] | None = None
    for trace in found.traces:  # shortest first: the last one found is the longest
        began_s = trace[0].start_ns / 1e9 - zero
        ended_s = max(span.end_ns for span in trace) / 1e9 - zero
        window = _overlapping(windows, began_s, ended_s)
        if window is not None:
            best = (trace, began_s, window)
    return best


def _overlapping(windows: Sequence[Window], began_s: float, ended_s: float) -> Window | None:
    return next((w for w in windows if began_s < w.end_s and ended_s > w.start_s), None)
