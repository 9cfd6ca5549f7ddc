"""`orderflow report FOLDER`: a results folder's report.html and report.md (bench writes them
at the end of every run too; this writes them again, for an older run or after a change)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.report.build import write_report
from harness.report.model import ReportError

HELP = "write a results folder's report: report.html (charts) and report.md"
DESCRIPTION = """\
Writes a report of one results folder of `orderflow bench` (a plain run or a scenario run)
into that folder, from its results.json:

  report.html  one self-contained page (no script, nothing fetched: open it anywhere, mail it):
               what was run, every style side by side, the audit with any broken invariant in
               red, bar charts of orders/s and p99, each style's latency (p50/p95/p99) and
               throughput second by second with the faults shaded, and for a scenario the
               failure isolation phase by phase (before / during / after the faults); when
               the run traced (a bench on its own stack does), each style's waterfall of a
               typical and a slow order and where an order's time goes, part by part
  report.md    the same tables in Markdown, for a pull request or a wiki

`orderflow bench` writes both at the end of every run; run this to write them again. Each
section starts with a line on how to read it. docs/report.md describes every section.

Example:
  orderflow report .orderflow/bench/payment-outage-20261123-111354-04a5

Exit codes: 0 written (the two paths are printed), 2 the folder is missing or holds no valid
results.json."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folder", type=Path, metavar="FOLDER", help="a results folder (it holds results.json)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        written = write_report(args.folder)
    except ReportError as error:
        print(f"orderflow report: {error}", file=sys.stderr)
        return 2
    print(written.html)
    print(written.markdown)
    return 0
