"""`orderflow trace ORDER_ID`: one order's waterfall, from the spans a bench run collected."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.traces import collect
from harness.traces.spans import TracesError, order_traces, read_folder
from harness.traces.waterfall import text
from services.kernel.config import ConfigError, Settings

HELP = "print one order's waterfall from the spans a bench run collected"
DESCRIPTION = """\
Prints one order's trace as a waterfall in the terminal: every span of the order (the client's
request at the order service, each saga step, each downstream call, each broker event's
handling, the notification), indented under its parent, with its service, its start (ms after
the trace began), its length, and a bar.

The spans are the ones `orderflow bench` collected from its own stack into its results folder
(<results>/traces/<service>.jsonl, OTLP JSON). The bench samples one order in ten by default,
so an order may have no trace: pick one from the report's waterfalls, or run the bench with
OTEL_TRACES_SAMPLER_ARG=1.

Example:
  orderflow trace 7f3a...  --results .orderflow/bench/20261123-111354-04a5

Without --results it reads the newest results folder under ORDERFLOW_DATA_DIR/bench.
Exit codes: 0 printed, 2 no such results folder, no traces in it, or no trace of that order."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id", metavar="ORDER_ID", help="the order's id")
    parser.add_argument(
        "--results",
        type=Path,
        metavar="DIR",
        help="a results folder of `orderflow bench` (default: the newest one)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        folder = args.results or _newest()
        traces = order_traces(read_folder(collect.folder(folder)))
    except (TracesError, ConfigError) as error:
        print(f"orderflow trace: {error}", file=sys.stderr)
        return 2
    trace = traces.get(args.order_id)
    if trace is None:
        print(
            f"orderflow trace: no trace of order {args.order_id} in {collect.folder(folder)}"
            f" ({len(traces)} orders traced there; the bench samples some orders only)",
            file=sys.stderr,
        )
        return 2
    print(text(trace))
    return 0


def _newest() -> Path:
    bench = Settings.from_env().data_dir / "bench"
    runs = sorted(bench.glob("*/results.json"), key=lambda path: path.stat().st_mtime)
    if not runs:
        raise TracesError(f"no results folder under {bench}: pass --results DIR")
    return runs[-1].parent
