"""A bench run's traced orders, style by style: which trace is typical and which slow, and
where each order's time went, part by part.

Every style of a plain run shares one stack, so one trace file holds them all: an order's trace
belongs to the style whose load was running when it started (the samples' times say when).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.bench.results import load_samples, nearest_rank
from harness.traces import collect
from harness.traces.spans import STYLE_KEY, Span, TracesError, order_traces, read_folder
from harness.traces.waterfall import rows, total_ms
from services.kernel.tracing import TRANSACTION

# An order started near the end of its style's load may finish a client timeout later.
LATE_S: Final = 35.0
EARLY_S: Final = 0.5
QUEUE_WAIT: Final = "queue wait"
UNTRACED: Final = "between spans"

Trace = list[Span]


@dataclass(frozen=True)
class StyleTraces:
    style: str
    traces: list[Trace]  # by length, shortest first

    @property
    def typical(self) -> Trace:
        return self.traces[_rank(50, len(self.traces))]

    @property
    def slow(self) -> Trace:
        return self.traces[_rank(99, len(self.traces))]


def pick(
    traces: Iterable[Trace], style: str | None, containing: str | None, slow: bool
) -> tuple[Trace, int] | None:
    """Among the traces begun by a `style` client that have a span whose name contains
    `containing` (either may be None: any), the typical one (median length) or the slow one
    (p99), and how many there were to choose from; None when there were none."""
    chosen = sorted(
        (
            trace
            for trace in traces
            if style in (None, style_of(trace))
            and (containing is None or any(containing in span.name for span in trace))
        ),
        key=total_ms,
    )
    if not chosen:
        return None
    return chosen[_rank(99 if slow else 50, len(chosen))], len(chosen)


def style_of(trace: Trace) -> str | None:
    """The style of the client whose request began the trace (its root span says so)."""
    styles = (span.attributes[STYLE_KEY] for span in trace if STYLE_KEY in span.attributes)
    return next(styles, None)


def by_style(folder: Path, styles: Sequence[str]) -> list[StyleTraces]:
    """Each style's traced orders (styles with none left out); none when nothing was traced."""
    try:
        traces = list(order_traces(read_folder(collect.folder(folder))).values())
    except TracesError:
        return []
    windows = {style: w for style in styles if (w := _window(folder / style)) is not None}
    mine: dict[str, list[Trace]] = {style: [] for style in windows}
    for trace in traces:
        style = _style_at(windows, trace[0].start_ns / 1e9)
        if style is not None:
            mine[style].append(trace)
    return [
        StyleTraces(style, sorted(found, key=total_ms)) for style, found in mine.items() if found
    ]


def _style_at(windows: dict[str, tuple[float, float]], at: float) -> str | None:
    """The style whose load had begun most recently at `at`, if it was still running (or had
    just ended: an order may finish a client timeout later). The styles run one after another
    on one stack, so the next style's start ends the previous one's window."""
    begun = [(start, style) for style, (start, _) in windows.items() if start <= at]
    if not begun:
        return None
    _, style = max(begun)
    return style if at <= windows[style][1] + LATE_S else None


def breakdown(trace: Trace) -> dict[str, float]:
    """Milliseconds by component, adding up to the trace's length: each moment goes to the
    deepest span running then, as a service's own work, a call's hop (the caller waiting while
    the callee is not yet or no longer working: network, serialisation), a publish, or the time
    an event waited in its queue (from its publish's end to its handling's start)."""
    depths = {row.span.span_id: row.depth for row in rows(trace)}
    ids = {span.span_id: span for span in trace}
    children: dict[str, list[Span]] = {}
    for span in trace:
        children.setdefault(span.parent_id, []).append(span)
    intervals = [
        (span.start_ns, span.end_ns, depths[span.span_id], _component(span, children))
        for span in trace
    ]
    for span in trace:
        parent = ids.get(span.parent_id)
        if span.kind == "CONSUMER" and parent is not None and parent.kind == "PRODUCER":
            intervals.append((parent.end_ns, span.start_ns, depths[span.span_id], QUEUE_WAIT))
    return _attribute(intervals)


def _attribute(intervals: list[tuple[int, int, int, str]]) -> dict[str, float]:
    bounds = sorted({t for start, end, _, _ in intervals for t in (start, end)})
    parts: dict[str, float] = {}
    for begin, end in itertools.pairwise(bounds):
        running = [
            (depth, start, label)
            for start, stop, depth, label in intervals
            if start <= begin and stop >= end and stop > start
        ]
        label = max(running)[2] if running else UNTRACED
        parts[label] = parts.get(label, 0.0) + (end - begin) / 1e6
    return parts


def median_breakdown(traces: Sequence[Trace]) -> dict[str, float]:
    """Each component's median over the orders (0 where an order had none of it)."""
    parts = [breakdown(trace) for trace in traces]
    labels = sorted({label for part in parts for label in part})
    return {label: statistics.median(part.get(label, 0.0) for part in parts) for label in labels}


def _component(span: Span, children: dict[str, list[Span]]) -> str:
    if TRANSACTION in span.attributes:  # a store transaction (services/kernel/tracing.py)
        return f"{span.service}: store"
    if span.kind == "PRODUCER":
        return f"{span.service}: publish"
    if span.kind == "CLIENT":
        mine = children.get(span.span_id, [])
        callee = next((child.service for child in mine if child.service != span.service), "")
        return f"{span.service} → {callee or span.name} (hop)"
    return f"{span.service} (own work)"


def _window(style_folder: Path) -> tuple[float, float] | None:
    samples = load_samples(sorted(style_folder.glob("samples-*/*.json")))
    if not samples:
        return None
    # A little early: the first sample's time is when it was due, its span may start before.
    return samples[0].at - EARLY_S, samples[-1].at


def _rank(percentile: float, count: int) -> int:
    """The index of the nearest-rank percentile (as the results compute theirs)."""
    return int(nearest_rank(range(count), percentile))
