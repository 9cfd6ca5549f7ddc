"""`orderflow compare A B`: what changed between two results folders, in the terminal and as
compare.md and compare.html."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.bench.table import render
from harness.report import markdown
from harness.report.build import Written, summary_bars, write_pages
from harness.report.compare import Comparison, compare
from harness.report.model import ReportError, Run, load_run, reported_as_errors

HTML_NAME = "compare.html"
MARKDOWN_NAME = "compare.md"
BARS_HOW_TO_READ = (
    "Grey is run A, blue run B, for every style both ran: taller is better on the left, "
    "shorter on the right."
)

HELP = "what changed between two results folders (e.g. naive vs resilient profile)"
DESCRIPTION = """\
Compares two results folders of `orderflow bench`, A then B: for every style that ran in both,
orders/s, the order's p50 and p99, the error rate and the audit's counts, and for two scenario
runs the order success during the faults, the p99 inflation and the recovery time. It shows A,
B and the change: B/A for rates and latencies (x0.50 is half), the difference in percentage
points for success and errors, the difference for counts and seconds.

It prints the table, then writes compare.md and a self-contained compare.html (with bar charts)
into --out. When the runs differ in more than you may think (a scenario against a plain run,
two different scenarios, another load, time scale, store or machine, styles only one of them
ran; not another profile, which its runs table shows) it says so in a warning line, and
compares what it can.

Example: the same scenario under both resilience profiles
  orderflow bench scenarios/payment-outage.yaml --profile naive --out runs/naive
  orderflow bench scenarios/payment-outage.yaml --profile resilient --out runs/resilient
  orderflow compare runs/naive runs/resilient

Exit codes: 0 done, 2 a folder is missing or holds no valid results.json, or the runs have no
style in common."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", type=Path, metavar="RUN_A", help="the first results folder (A)")
    parser.add_argument("b", type=Path, metavar="RUN_B", help="the second results folder (B)")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where compare.md and compare.html go (created if missing); default: a folder "
        "compare-<A's name>-vs-<B's name> beside run B",
    )


def run(args: argparse.Namespace) -> int:
    try:
        a, b = load_run(args.a), load_run(args.b)
        with reported_as_errors(a.folder, b.folder):
            return _compared(a, b, args.out or default_out(a, b))
    except ReportError as error:
        print(f"orderflow compare: {error}", file=sys.stderr)
        return 2


def _compared(a: Run, b: Run, out: Path) -> int:
    found = compare(a, b)
    if not found.styles:
        raise ReportError(
            f"no style ran in both runs (A: {', '.join(a.styles)}; B: {', '.join(b.styles)})"
        )
    print(terminal(found))
    written = write_comparison(found, out)
    print(f"\nComparison: {written.html}\n            {written.markdown}")
    return 0


def default_out(a: Run, b: Run) -> Path:
    """Beside B (resolved first: for B = ".", beside the current folder, not inside it)."""
    a_name, b_folder = a.folder.resolve().name, b.folder.resolve()
    return b_folder.parent / f"compare-{a_name}-vs-{b_folder.name}"


def terminal(found: Comparison) -> str:
    changes = found.changes
    rows = [[cell.text for cell in row] for row in changes.rows]
    lines = [
        f"A: {found.a.folder}  ({found.a.kind}, {found.a.meta.profile} profile)",
        f"B: {found.b.folder}  ({found.b.kind}, {found.b.meta.profile} profile)",
        *(f"warning: {line}" for line in found.warnings),
        "",
        render(changes.headers, rows, changes.aligns),
    ]
    return "\n".join(lines)


def write_comparison(found: Comparison, out: Path) -> Written:
    out.mkdir(parents=True, exist_ok=True)
    title = f"A: {found.a.folder.name}   B: {found.b.folder.name}"
    runs = {"A": found.a, "B": found.b}
    return write_pages(
        Written(out / HTML_NAME, out / MARKDOWN_NAME),
        markdown.comparison(found),
        "compare.html.j2",
        title=markdown.comparison_title(found),
        comparison=found,
        bars=summary_bars(title, found.styles, runs, "compare-bars"),
        bars_how_to_read=BARS_HOW_TO_READ,
    )
