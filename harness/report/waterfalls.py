"""The report's traces: per style, the waterfall of a typical order (its traced orders' median
length) and of a slow one (their p99), and the breakdown of an order's time by component.

Drawn only when the results folder holds the spans the bench collected (<out>/traces)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from markupsafe import Markup

from harness.report import charts, html
from harness.report.cells import Table, plain, right_aligned
from harness.traces.orders import StyleTraces, Trace, by_style, median_breakdown
from harness.traces.waterfall import rows, total_ms

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_ROWS: Final = 30  # a longer trace (retries) shows its first spans: the page stays readable
ROW_IN: Final = 0.22
SERVICE_COLOURS: Final = {
    "order": "#1f77b4",
    "inventory": "#2ca02c",
    "payment": "#d62728",
    "notification": "#9467bd",
}
HOW_TO_READ: Final = (
    "One order's trace per panel: each bar is a span (a request handled, a call made, a saga "
    "step, an event published or handled), indented under the span that caused it, placed at "
    "its start and as long as it took; the colour is the service. 'Typical' is the traced order "
    "of median length, 'slow' the one at p99; the client's request (Locust's, in grey) is the "
    "root. `orderflow bench --traces` samples one order in ten unless given a ratio."
)
BREAKDOWN_HOW_TO_READ: Final = (
    "Where an order's time goes, part by part: each moment of a traced order goes to the deepest "
    "span running then (a service's own work, the stores included; a call's hop, the caller "
    "waiting while the callee is not working: network, serialisation; a publish; an event "
    "waiting in its queue; a store transaction); each cell is the median over the style's traced "
    "orders, in ms. The client's request is the root span, so the client → order hop is a part "
    "too (Locust's own time, the network and the order service's framework)."
)


@dataclass(frozen=True)
class Traces:
    waterfalls: list[Markup]
    breakdown: Table | None


def traces(folder: Path, styles: Sequence[str]) -> Traces:
    found = by_style(folder, styles)
    if not found:
        return Traces([], None)
    return Traces([html.svg(_waterfall(style)) for style in found], _breakdown(found))


def _breakdown(found: Sequence[StyleTraces]) -> Table:
    parts = {style.style: median_breakdown(style.traces) for style in found}
    totals: dict[str, float] = {}
    for part in parts.values():
        for label, ms in part.items():
            totals[label] = totals.get(label, 0.0) + ms
    labels = sorted(totals, key=lambda label: -totals[label])
    body = tuple(
        plain(
            [
                style.style,
                str(len(style.traces)),
                f"{statistics.median(total_ms(trace) for trace in style.traces):.1f}",
                *(f"{parts[style.style].get(label, 0.0):.1f}" for label in labels),
            ]
        )
        for style in found
    )
    headers = ("style", "orders traced", "median order ms", *labels)
    return Table(
        "trace-breakdown",
        "Where an order's time goes (traces)",
        BREAKDOWN_HOW_TO_READ,
        headers,
        body,
        right_aligned(len(headers)),
    )


def _waterfall(style: StyleTraces) -> str:
    shown = [("typical", style.typical), ("slow (p99)", style.slow)]
    heights = [min(len(trace), MAX_ROWS) for _, trace in shown]

    def draw(figure: Figure) -> None:
        axes = figure.subplots(2, 1, height_ratios=heights)
        for ax, (what, trace) in zip(axes, shown, strict=True):
            _panel(ax, f"{style.style}: {what} order, {total_ms(trace):.1f} ms", trace)

    return charts.render(draw, 1.2 + ROW_IN * sum(heights), f"waterfall-{style.style}")


def waterfall(title: str, trace: Trace, salt: str) -> str:
    """One order's trace, drawn as each panel of `_waterfall` is."""

    def draw(figure: Figure) -> None:
        _panel(figure.subplots(), title, trace)

    return charts.render(draw, 1.2 + ROW_IN * min(len(trace), MAX_ROWS), salt)


def _panel(ax: Axes, title: str, trace: Trace) -> None:
    shown = rows(trace)[:MAX_ROWS]
    for index, row in enumerate(shown):
        colour = SERVICE_COLOURS.get(row.span.service, "#7f7f7f")
        ax.barh(index, max(row.duration_ms, 0.05), left=row.offset_ms, color=colour, height=0.7)
    ax.set_yticks(
        range(len(shown)),
        ["  " * row.depth + f"{row.span.name} ({row.span.service})" for row in shown],
        fontsize=8,
    )
    ax.invert_yaxis()  # the trace reads top down, as in a trace UI
    ax.set_xlabel("ms since the order's first span")
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(axis="y", visible=False)
