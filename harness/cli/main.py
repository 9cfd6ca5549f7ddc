"""The `orderflow` command line: one sub-command per entry of COMMANDS."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

from harness.cli import (
    bench,
    broker,
    compare,
    demo,
    dlq,
    locust_worker,
    medians,
    report,
    serve,
    trace,
    up,
)


class Command(Protocol):
    """A sub-command's module: harness/cli/<name>.py, one per entry of COMMANDS."""

    HELP: str  # one line, in `orderflow --help`
    DESCRIPTION: str  # the sub-command's own --help

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...  # returns the exit code


# Every sub-command, in `orderflow --help` order: add new ones here.
COMMANDS: dict[str, Command] = {
    "up": up,
    "demo": demo,
    "bench": bench,
    "report": report,
    "compare": compare,
    "medians": medians,
    "trace": trace,
    "serve": serve,
    "dlq": dlq,
    "broker": broker,
    "locust-worker": locust_worker,
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
            help=command.HELP,
            description=command.DESCRIPTION,
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
