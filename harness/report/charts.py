"""The report's charts as inline SVG strings (matplotlib).

Figures are built with matplotlib's object API (Figure, not pyplot), as its docs advise for
programs that are not interactive: no GUI backend, no global figure list to leak or close.
Each SVG is deterministic: no date, and a salt of its own for the ids matplotlib derives
(several SVGs share one HTML page, where ids must stay unique).
"""

from __future__ import annotations

import io
import math
import re
import statistics
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from harness.report.series import Series, Window

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

STYLE_COLOURS: Final = {
    "rest": "#1f77b4",
    "grpc": "#2ca02c",
    "graphql": "#9467bd",
    "websocket": "#ff7f0e",
    "broker": "#8c564b",
}
RUN_COLOURS: Final = ("#9aa5b1", "#1f5fa8")  # run A in grey, run B in blue: B is the news
FAULT_COLOUR: Final = "#d62728"
WARMUP_COLOUR: Final = "#7f7f7f"
RC: Final[dict[RcKeyType, Any]] = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, searchable in the page
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    # Titles and legends carry folder names and fault descriptions: a `$` in one is text, not
    # the start of a formula for matplotlib's math parser (which raises on what it cannot parse).
    "text.parse_math": False,
}
AUTOMATIC_ID: Final = re.compile(r'id="([a-z][a-z0-9.]*_\d+)"')
LOG_SCALE_SPREAD: Final = 20.0  # a p99 this many times the typical p50 flattens a linear axis
WIDTH_IN: Final = 11.0
LEGEND_WIDTH: Final = 26  # characters: a fault's description wraps beside the plot


def render(draw: Callable[[Figure], None], height_in: float, salt: str) -> str:
    """The figure `draw` fills, as an SVG element to inline in HTML."""
    # Imported here, not at the top: matplotlib takes a good part of a second to import, and
    # every `orderflow` command (the services' `orderflow serve` too) imports this package.
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({**RC, "svg.hashsalt": salt}):
        figure = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
        draw(figure)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # the XML prolog and doctype have no place inside HTML
    # matplotlib numbers its groups per document (figure_1, axes_1, ...): prefixed with the
    # salt, they stay unique among the page's SVGs. Nothing refers to them.
    return AUTOMATIC_ID.sub(rf'id="{salt}-\1"', text)


def timeline(series: Series) -> str:
    """Latency percentiles, throughput and (when the broker queued anything) queue depths over
    the style's load, with its warm-up and fault windows shaded."""
    rows = 3 if series.queues else 2

    def draw(figure: Figure) -> None:
        axes: Sequence[Axes] = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0].tolist()
        _latency(axes[0], series)
        _throughput(axes[1], series)
        if series.queues:
            _queue_depths(axes[2], series)
        for row, ax in enumerate(axes):
            _shade(ax, series, f"{series.style}-{row}", legend=row == 0)
            # Beside the plot, not on it: a legend inside would hide a spike at the top.
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        axes[-1].set_xlabel("seconds from the start of the load")
        axes[-1].set_xlim(0, max(series.seconds, 1))
        figure.suptitle(series.style, fontweight="bold", x=0.01, ha="left")

    return render(draw, 2.4 * rows + 0.4, f"timeline-{series.style}")


def _middles(count: int) -> list[float]:
    return [second + 0.5 for second in range(count)]  # second i covers [i, i + 1)


def _values(values: Sequence[float | None]) -> list[float]:
    return [math.nan if value is None else value for value in values]


def _latency(ax: Axes, series: Series) -> None:
    x = _middles(series.seconds)
    lines = [("p50", series.p50, "-"), ("p95", series.p95, "--"), ("p99", series.p99, ":")]
    for name, values, dash in lines:
        if values is not None:
            # Markers too: a second with orders between seconds without any has no line.
            ax.plot(x, _values(values), dash, marker=".", markersize=4, label=f"order {name}")
    log = _wants_log_scale(series.p50, series.p99)
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter("{x:g}")  # 10, 100, 1000: not powers of ten
        ax.tick_params(axis="y", which="minor", labelleft=False)
    else:
        ax.set_ylim(bottom=0)  # from zero, so a reader does not see a small change as a big one
    ax.set_ylabel("ms (log scale)" if log else "ms")
    ax.set_title("order latency, second by second", loc="left", fontsize=10)


def _wants_log_scale(p50: Sequence[float | None], p99: Sequence[float | None]) -> bool:
    typical = [value for value in p50 if value]
    worst = max((value for value in p99 if value), default=0.0)
    return bool(typical) and worst > LOG_SCALE_SPREAD * statistics.median(typical)


def _throughput(ax: Axes, series: Series) -> None:
    x = _middles(series.seconds)
    ax.plot(x, series.requests, label="requests/s", linewidth=1.6, color="#4c72b0")
    ax.plot(x, series.orders, label="orders/s completed", linewidth=1.6, color="#2ca02c")
    if any(series.failures):
        ax.plot(x, series.failures, label="failed/s", linewidth=1.6, color=FAULT_COLOUR)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("per second")
    ax.set_title("throughput, second by second", loc="left", fontsize=10)


def _queue_depths(ax: Axes, series: Series) -> None:
    for queue, points in series.queues.items():
        ax.plot([t for t, _ in points], [d for _, d in points], label=queue, linewidth=1.4)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("messages")
    ax.set_title("queue depths (broker) and notifications owed (order)", loc="left", fontsize=10)


def _shade(ax: Axes, series: Series, key: str, *, legend: bool) -> None:
    shade(ax, series.warmup_s, series.faults, key, legend=legend)


def shade(ax: Axes, warmup_s: float, faults: Sequence[Window], key: str, *, legend: bool) -> None:
    """The warm-up in grey, each fault window in red; each band has an id of its own."""
    if warmup_s > 0:
        band = ax.axvspan(0, warmup_s, color=WARMUP_COLOUR, alpha=0.12, linewidth=0)
        band.set_gid(f"warmup-{key}")
        if legend:
            band.set_label("warm-up (not judged)")
    for index, window in enumerate(faults):
        band = ax.axvspan(window.start_s, window.end_s, color=FAULT_COLOUR, alpha=0.15)
        band.set_gid(f"fault-{key}-{index}")
        band.set_linewidth(0)
        if legend:
            band.set_label(textwrap.fill(f"fault: {window.label}", LEGEND_WIDTH))


def bars(
    title: str,
    styles: Sequence[str],
    panels: Mapping[str, Mapping[str, Sequence[float | None]]],
    salt: str,
) -> str:
    """One panel per metric, a group of bars per style, a bar per run in the group: one run
    is coloured by style, two (A and B) by run."""

    def draw(figure: Figure) -> None:
        axes: Sequence[Axes] = figure.subplots(1, len(panels), squeeze=False)[0].tolist()
        for ax, (metric, runs) in zip(axes, panels.items(), strict=True):
            _bar_panel(ax, styles, runs)
            ax.set_title(metric, loc="left", fontsize=10)
        figure.suptitle(title, fontweight="bold", x=0.01, ha="left")

    return render(draw, 3.4, salt)


def _bar_panel(ax: Axes, styles: Sequence[str], runs: Mapping[str, Sequence[float | None]]) -> None:
    width = 0.8 / len(runs)
    for index, (run, values) in enumerate(runs.items()):
        offset = (index - (len(runs) - 1) / 2) * width
        colours = (
            [STYLE_COLOURS.get(style, "#555555") for style in styles]
            if len(runs) == 1
            else RUN_COLOURS[index % len(RUN_COLOURS)]
        )
        heights = [0.0 if value is None else value for value in values]
        drawn = ax.bar([i + offset for i in range(len(styles))], heights, width, color=colours)
        drawn.set_label(run)
        labels = ["-" if value is None else f"{value:.4g}" for value in values]
        ax.bar_label(drawn, labels=labels, fontsize=8, padding=2)
    ax.set_xticks(range(len(styles)), list(styles))
    ax.margins(y=0.15)  # room for the value above the tallest bar
    ax.grid(axis="x", visible=False)
    if len(runs) > 1:
        ax.legend(fontsize=8)
