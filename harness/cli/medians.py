"""`orderflow medians RUN RUN ...`: several runs of the same bench, each style's medians."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.bench.table import render
from harness.report import markdown
from harness.report.medians import Medians, medians
from harness.report.model import ReportError, load_run, reported_as_errors

HELP = "each style's medians over several runs of the same bench (a noisy machine's figures)"
DESCRIPTION = """\
Reads two or more results folders of `orderflow bench` made with the same load, and prints for
every style the median of each figure over the runs, with its lowest and highest in brackets:
orders/s, the order's p99, CPU-ms per completed order, the style's CPU per order as a ratio to
REST's (each run's own ratio, then its median) and the share of the bound it reached. On a
machine whose speed drifts, one run can mislead by a third; docs/bench.md states issue 17's
targets as medians of 3 made this way. It warns when the runs differ in kind, load, time scale,
profile, store, broker or machine, or not every run ran a style.

Example: three runs, then their medians
  for i in 1 2 3; do .venv/bin/orderflow bench --duration 20s --calibration 5s --out runs/$i; done
  .venv/bin/orderflow medians runs/1 runs/2 runs/3

Exit codes: 0 done, 2 fewer than two folders, or a folder is missing or holds no valid
results.json."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="a results folder")
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="also write the table as Markdown to FILE (for docs/bench.md, say)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        if len(args.runs) < 2:
            raise ReportError("give two results folders or more: a median of one run is the run")
        runs = [load_run(folder) for folder in args.runs]
        with reported_as_errors(*args.runs):
            found = medians(runs)
            print(terminal(found))
            if args.markdown is not None:
                args.markdown.write_text(markdown.table(found.table))
                print(f"\nMarkdown: {args.markdown}")
        return 0
    except ReportError as error:
        print(f"orderflow medians: {error}", file=sys.stderr)
        return 2


def terminal(found: Medians) -> str:
    table = found.table
    rows = [[cell.text for cell in row] for row in table.rows]
    lines = [
        *(f"{index}: {run.folder}" for index, run in enumerate(found.runs, start=1)),
        *(f"warning: {line}" for line in found.warnings),
        "",
        f"{table.title} (median, lowest-highest)",
        render(table.headers, rows, table.aligns),
    ]
    return "\n".join(lines)
