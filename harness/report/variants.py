"""The report's table of variants: each variant of a style (harness/vocabulary.py, VARIANT_OF)
beside the style it measures, when the run has both. The side-by-side table already has a row
for each; this one puts the two client paths of one style next to each other, as ratios from the
same run, and keeps apart what the client waits for (`place_order`: it holds an order id) and
what the order takes (`order_completed`)."""

from __future__ import annotations

from typing import Final

from harness.bench.results_model import StyleResult
from harness.report.cells import Table, plain, right_aligned
from harness.report.model import Run
from harness.vocabulary import VARIANT_OF

HEADERS: Final = (
    "variant",
    "of",
    "orders/s ratio",
    "accepted p50 (ms)",
    "of the style",
    "completed p50 (ms)",
    "of the style",
    "completed p99 ratio",
    "CPU/order ratio",
)


def variants(run: Run) -> Table | None:
    """None when no variant ran beside its style."""
    pairs = [(v, s) for v, s in VARIANT_OF.items() if v in run.styles and s in run.styles]
    if not pairs:
        return None
    rows = tuple(
        plain(_row(variant, style, run.styles[variant], run.styles[style]))
        for variant, style in pairs
    )
    return Table(
        "variants",
        "Variants beside their style",
        "The same style by another client path, in the same run (docs/bench.md, Variants). "
        "A ratio is the variant's figure over its style's (above 1: more orders/s, or slower, "
        "or more CPU). accepted is place_order, when the client holds an order id; completed is "
        "order_completed, when it sees the final status. '-' where a figure is missing.",
        HEADERS,
        rows,
        right_aligned(len(HEADERS), left=2),
    )


def _row(variant: str, style: str, mine: StyleResult, theirs: StyleResult) -> list[str]:
    accepted = _percentiles(mine, "place_order"), _percentiles(theirs, "place_order")
    completed = _percentiles(mine, "order_completed"), _percentiles(theirs, "order_completed")
    return [
        variant,
        style,
        _ratio(mine.summary.orders_per_s, theirs.summary.orders_per_s),
        _ms(accepted[0][0]),
        _ms(accepted[1][0]),
        _ms(completed[0][0]),
        _ms(completed[1][0]),
        _ratio(completed[0][1], completed[1][1]),
        _ratio(_cpu_total(mine), _cpu_total(theirs)),
    ]


def _percentiles(result: StyleResult, name: str) -> tuple[float | None, float | None]:
    """(p50, p99) of an operation, None for one that has no samples."""
    found = result.operations.get(name)
    return (None, None) if found is None else (found.p50_ms, found.p99_ms)


def _cpu_total(result: StyleResult) -> float | None:
    return None if result.cpu is None else result.cpu.total_ms


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(mine: float | None, theirs: float | None) -> str:
    if mine is None or not theirs:
        return "-"
    return f"{mine / theirs:.2f}"
