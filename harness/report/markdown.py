"""Markdown: the report's tables as pipe tables, for a pull request, a wiki or a terminal."""

from __future__ import annotations

from collections.abc import Iterable

from harness.report.cells import Table
from harness.report.compare import Comparison
from harness.report.report import BARS_HOW_TO_READ, TIMELINES_HOW_TO_READ, Report


def table(found: Table) -> str:
    """A titled pipe table with its how-to-read line; '|' in a cell is escaped."""
    rule = ["---:" if align == ">" else ":---" for align in found.aligns]
    lines = [
        _row(found.headers),
        _row(rule),
        *(_row(cell.text for cell in row) for row in found.rows),
    ]
    return f"## {found.title}\n\n_{found.how_to_read}_\n\n" + "\n".join(lines)


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"- **{what}:** {_inline(value)}" for what, value in pairs)


def _inline(value: str) -> str:
    return f"`{value}`" if value.startswith("orderflow ") else value


def bullets(title: str, lines: list[str]) -> list[str]:
    return [f"**{title}**\n\n" + "\n".join(f"- {line}" for line in lines)] if lines else []


def report(found: Report) -> str:
    later = [found.operations, found.capacity, found.errors]
    parts = [
        f"# {found.title}",
        "## What was run\n\n" + facts(found.facts),
        *bullets("Warnings", found.warnings),
        f"**Audit:** {found.verdict}",
        table(found.side_by_side),
        *([table(found.variants)] if found.variants is not None else []),
        *([table(found.cpu)] if found.cpu is not None else []),
        table(found.audit),
        *bullets("What the audit found (up to ten examples of each)", found.problems),
        *(table(each) for each in found.scenario),
        *(table(each) for each in later if each is not None),
        "## Charts\n\n"
        f"_{BARS_HOW_TO_READ} {TIMELINES_HOW_TO_READ}_\n\n"
        "The charts are in report.html, beside this file.",
    ]
    return "\n\n".join(parts) + "\n"


def comparison(found: Comparison) -> str:
    parts = [
        f"# {comparison_title(found)}",
        *bullets("Warnings", found.warnings),
        table(found.runs),
        table(found.changes),
        "The bar charts are in compare.html, beside this file.",
    ]
    return "\n\n".join(parts) + "\n"


def comparison_title(found: Comparison) -> str:
    return f"orderflow compare: {found.a.folder.name} (A) vs {found.b.folder.name} (B)"
