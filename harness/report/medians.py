"""Several runs of the same bench, style by style: the median of each figure and its range.

On a noisy machine one run says little (docs/bench.md: the same code's CPU per order moved by
half between runs), so issue 17's targets are stated as medians of 3. Each figure is taken in
each run first, then its median across the runs: a ratio to REST is each run's own ratio (REST
and the style measured on the same machine minutes apart), not a ratio of two medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from harness.bench.results_model import StyleResult
from harness.bench.table import MISSING
from harness.report.alike import unlike
from harness.report.cells import Table, plain, right_aligned
from harness.report.model import Run

REFERENCE: Final = "rest"  # the style the CPU ratio is to, as in issue 17's GraphQL target
Reading = Callable[[StyleResult, Run], float | None]  # one figure of a style, in one run


@dataclass(frozen=True)
class Figure:
    name: str
    read: Reading
    show: Callable[[float], str]


def _orders_per_s(result: StyleResult, _run: Run) -> float | None:
    return result.summary.orders_per_s


def _p99(result: StyleResult, _run: Run) -> float | None:
    return result.summary.order_p99_ms


def _cpu(result: StyleResult, _run: Run) -> float | None:
    return None if result.cpu is None else result.cpu.total_ms


def _to_reference(result: StyleResult, run: Run) -> float | None:
    reference = run.styles.get(REFERENCE)
    mine, theirs = _cpu(result, run), None if reference is None else _cpu(reference, run)
    return None if mine is None or not theirs else mine / theirs


def _of_bound(result: StyleResult, _run: Run) -> float | None:
    return None if result.cpu is None else result.cpu.bound_fraction


FIGURES: Final = (
    Figure("orders/s", _orders_per_s, lambda value: f"{value:.1f}"),
    Figure("order p99 ms", _p99, lambda value: f"{value:.0f}"),
    Figure("CPU-ms per order", _cpu, lambda value: f"{value:.2f}"),
    Figure(f"CPU ÷ {REFERENCE}", _to_reference, lambda value: f"{value:.2f}"),
    Figure("of bound", _of_bound, lambda value: f"{value:.0%}"),
)
HEADERS: Final = ("style", "runs", *(figure.name for figure in FIGURES))


@dataclass(frozen=True)
class Medians:
    runs: tuple[Run, ...]
    warnings: list[str]
    table: Table


def medians(runs: Sequence[Run]) -> Medians:
    """Every style that ran in any of the runs (in the order they first ran), with how many
    runs it is in, and each figure's median over them with its range."""
    styles = list(dict.fromkeys(style for run in runs for style in run.styles))
    rows = tuple(plain(_row(style, runs)) for style in styles)
    table = Table(
        "medians",
        f"Medians of {len(runs)} runs",
        "Each figure is the median over the runs that ran the style, with the lowest and the "
        f"highest in brackets. CPU ÷ {REFERENCE} is each run's own ratio of the style's CPU-ms "
        f"per order to {REFERENCE}'s, then its median. of bound is the share of the bound the "
        "style reached (docs/bench.md).",
        HEADERS,
        rows,
        right_aligned(len(HEADERS)),
    )
    return Medians(tuple(runs), differences(runs), table)


def _row(style: str, runs: Sequence[Run]) -> list[str]:
    ran = [run for run in runs if style in run.styles]
    return [
        style,
        str(len(ran)),
        *(
            _cell(figure, [figure.read(run.styles[style], run) for run in ran])
            for figure in FIGURES
        ),
    ]


def _cell(figure: Figure, values: Sequence[float | None]) -> str:
    known = [value for value in values if value is not None]
    if not known:
        return MISSING
    middle = figure.show(statistics.median(known))
    if len(known) == 1:
        return middle
    return f"{middle} ({figure.show(min(known))}-{figure.show(max(known))})"


def differences(runs: Sequence[Run]) -> list[str]:
    """What makes the runs less alike than a median assumes, one warning line each."""
    found = [
        f"the runs differ in {aspect.name}: {'; '.join(dict.fromkeys(seen))}"
        for aspect, seen in unlike(runs)
    ]
    every = set.intersection(*(set(run.styles) for run in runs)) if runs else set()
    missing = [style for run in runs for style in run.styles if style not in every]
    if missing:
        found.append(
            f"not every run ran {', '.join(dict.fromkeys(missing))}: its medians are over fewer"
            " runs (see runs)"
        )
    return found
