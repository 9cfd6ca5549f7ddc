"""The tables a report shows, as cells that Markdown and HTML both render.

The numbers and their formatting are the terminal's (harness/bench/table.py builds the rows),
so the report, the summary and the terminal never disagree; this adds only what a page can
show and a terminal cannot: a mark on a cell (a CSS class) and a line on how to read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

BAD: Final = "bad"  # breaks an invariant, or an expectation not met
NOTE: Final = "note"  # worth a look, but nothing broken
GOOD: Final = "good"  # better than the run compared with


@dataclass(frozen=True)
class Cell:
    text: str
    mark: str = ""  # "", BAD, NOTE or GOOD: the cell's CSS class in HTML


@dataclass(frozen=True)
class Table:
    key: str  # the section's id in the page, and how the tests find it
    title: str
    how_to_read: str  # one or two sentences for a workshop, above the table
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    aligns: str  # one '<' or '>' per column, as harness.bench.table.render takes them


def plain(texts: Iterable[str]) -> tuple[Cell, ...]:
    return tuple(Cell(text.strip()) for text in texts)


def marked(texts: Sequence[str], marks: Sequence[str]) -> tuple[Cell, ...]:
    """Cells with their marks; the terminal's padding (kept for alignment there) is dropped."""
    return tuple(Cell(text.strip(), mark) for text, mark in zip(texts, marks, strict=True))


def right_aligned(columns: int, left: int = 1) -> str:
    """The usual shape: `left` text columns, then numbers."""
    return "<" * left + ">" * (columns - left)
