"""The `orderflow` command line: one sub-command per entry of COMMANDS."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from harness.cli import bench, broker, compare, demo, dlq, report, trace, up
from services.kernel.config import SERVICES


@dataclass(frozen=True)
class Command:
    help: str  # one line, in `orderflow --help`
    description: str  # the sub-command's own --help
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]  # returns the exit code


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", choices=SERVICES, help="the service to run")


def _serve(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"services.{args.service}.main")
    service_main: Callable[[], None] = module.main
    service_main()
    return 0


SERVE = Command(
    help="run one service in the foreground (what a container runs)",
    description=(
        "Runs one service in this process until SIGINT or SIGTERM, then exits 0. It is configured\n"
        "only through the environment (ORDERFLOW_HOST, ORDERFLOW_DATA_DIR,\n"
        "ORDERFLOW_<SERVICE>_HTTP_PORT / _GRPC_PORT, ...); a bad value exits 2 naming the\n"
        "variable. Each service binds ORDERFLOW_HOST (0.0.0.0 in a container) and reaches the\n"
        "others at ORDERFLOW_<SERVICE>_HOST (default: ORDERFLOW_HOST), e.g.\n"
        "ORDERFLOW_INVENTORY_HOST=inventory."
    ),
    add_arguments=_serve_arguments,
    run=_serve,
)
UP = Command(
    help="start the whole stack locally and run it until Ctrl-C",
    description=up.DESCRIPTION,
    add_arguments=up.add_arguments,
    run=up.run,
)

DEMO = Command(
    help="start the stack, place real orders in every style, show what happened",
    description=demo.DESCRIPTION,
    add_arguments=demo.add_arguments,
    run=demo.run,
)

DLQ = Command(
    help="list (or replay) the broker style's dead-letter queues",
    description=dlq.DESCRIPTION,
    add_arguments=dlq.add_arguments,
    run=dlq.run,
)

BROKER = Command(
    help="run a private RabbitMQ node (own ports and data) until Ctrl-C",
    description=broker.DESCRIPTION,
    add_arguments=broker.add_arguments,
    run=broker.run,
)

BENCH = Command(
    help="measure every style under the same load (Locust) and compare them",
    description=bench.DESCRIPTION,
    add_arguments=bench.add_arguments,
    run=bench.run,
)

REPORT = Command(
    help="write a results folder's report: report.html (charts) and report.md",
    description=report.DESCRIPTION,
    add_arguments=report.add_arguments,
    run=report.run,
)

COMPARE = Command(
    help="what changed between two results folders (e.g. naive vs resilient profile)",
    description=compare.DESCRIPTION,
    add_arguments=compare.add_arguments,
    run=compare.run,
)

TRACE = Command(
    help="print one order's waterfall from the spans a bench run collected",
    description=trace.DESCRIPTION,
    add_arguments=trace.add_arguments,
    run=trace.run,
)

# Every sub-command, in `orderflow --help` order: add new ones (bench, ...) here.
COMMANDS: dict[str, Command] = {
    "up": UP,
    "demo": DEMO,
    "bench": BENCH,
    "report": REPORT,
    "compare": COMPARE,
    "trace": TRACE,
    "serve": SERVE,
    "dlq": DLQ,
    "broker": BROKER,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orderflow",
        description="One e-commerce order flow over five integration styles.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=command.help,
            description=command.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command].run(args)


def _version() -> str:
    try:
        return version("orderflow")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
