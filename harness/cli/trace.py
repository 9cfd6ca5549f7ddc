"""`orderflow trace [ORDER_ID]`: one order's waterfall, from the spans a bench run collected."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.traces import collect
from harness.traces.orders import Trace, pick
from harness.traces.spans import TracesError, order_traces, read_folder
from harness.traces.waterfall import text
from harness.vocabulary import STYLES
from services.kernel.config import ConfigError, Settings

HELP = "print one order's waterfall from the spans a bench run collected"
DESCRIPTION = """\
Prints one order's trace as a waterfall in the terminal: every span of the order (the client's
request, the order service's handling of it, each saga step, each downstream call, each store
transaction, each broker event's publish and handling, each retry and each call an open
breaker refused, the notification), indented under its parent, with its service, its start
(ms after the trace began), its length, and a bar.

The spans are the ones `orderflow bench --traces` collected from its own stack and its load
generator into its results folder (<results>/traces/*.jsonl, OTLP JSON). `--traces` samples one
order in ten unless given a ratio (`--traces 1`: all), so an order may have no trace.

Without ORDER_ID it chooses one: the typical order (median length) of those traced, or with
--slow the slow one (p99); --style keeps the orders a client of that style placed, --with the
orders with a span whose name contains TEXT (`retry`, `breaker open`, `compensate`).

Examples:
  orderflow trace 7f3a...  --results .orderflow/bench/20261123-111354-04a5
  orderflow trace --style broker --slow
  orderflow trace --with "breaker open" --results runs/outage-traced

Without --results it reads the newest results folder under ORDERFLOW_DATA_DIR/bench.
Exit codes: 0 printed, 2 no such results folder, no traces in it, no trace of that order, or
no traced order to choose."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "order_id", nargs="?", metavar="ORDER_ID", help="the order's id (default: choose one)"
    )
    parser.add_argument("--style", choices=STYLES, help="choose among this style's orders")
    parser.add_argument(
        "--with", dest="containing", metavar="TEXT", help="choose among orders with such a span"
    )
    parser.add_argument("--slow", action="store_true", help="choose the slow one (p99)")
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
    choice = Choice(getattr(args, "style", None), getattr(args, "containing", None))
    slow = bool(getattr(args, "slow", False))
    if args.order_id is None:
        return _chosen(choice, slow, traces, collect.folder(folder))
    if choice.style or choice.containing or slow:
        print("orderflow trace: give an ORDER_ID or choose one, not both", file=sys.stderr)
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


@dataclass(frozen=True)
class Choice:
    """Which orders to choose among (None: any)."""

    style: str | None
    containing: str | None

    def __str__(self) -> str:
        orders = f"{self.style} orders" if self.style else "orders"
        return f"{orders} with a span '{self.containing}'" if self.containing else orders


def _chosen(choice: Choice, slow: bool, traces: dict[str, Trace], folder: Path) -> int:
    found = pick(traces.values(), choice.style, choice.containing, slow)
    if found is None:
        print(f"orderflow trace: no traced {choice} in {folder}", file=sys.stderr)
        return 2
    trace, count = found
    order_id = next(oid for oid, candidate in traces.items() if candidate is trace)
    which = "slow (p99)" if slow else "typical (median)"
    print(f"order {order_id}: the {which} of {count} traced {choice}")
    print(text(trace))
    return 0


def _newest() -> Path:
    bench = Settings.from_env().data_dir / "bench"
    runs = sorted(bench.glob("*/results.json"), key=lambda path: path.stat().st_mtime)
    if not runs:
        raise TracesError(f"no results folder under {bench}: pass --results DIR")
    return runs[-1].parent
