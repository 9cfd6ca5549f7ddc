"""The options several sub-commands take, declared once: the same flag has the same type,
placeholder and default wherever it appears; only what it is about is the command's own."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.stack.replicas import GRPC_BALANCING, PROXY_L7


def add_data_dir(parser: argparse.ArgumentParser, help: str) -> None:
    """--data-dir DIR: where the command keeps its databases, logs or node data."""
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help=help)


def add_timeout(parser: argparse.ArgumentParser, waits_for: str) -> None:
    """--timeout SECONDS: how long to wait for what the command starts (60 s by default)."""
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help=f"how long to wait for {waits_for} (default: %(default)s)",
    )


def positive_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_replicas(parser: argparse.ArgumentParser) -> None:
    """--replicas N and --grpc-balancing: several processes per service behind HAProxy
    (harness/stack/proxy.py); StackConfig's `replicas` and `grpc_balancing`."""
    parser.add_argument(
        "--replicas",
        type=positive_count,
        default=1,
        metavar="N",
        help="processes per service (default: %(default)s); above 1 needs --store postgres,"
        " and HAProxy takes each service's ports, balancing to the replicas",
    )
    parser.add_argument(
        "--grpc-balancing",
        choices=GRPC_BALANCING,
        default=PROXY_L7,
        help="how the order service's gRPC calls reach several replicas: through the proxy"
        " balancing each call (proxy-l7), through its TCP frontend, one connection pinned to one"
        " replica (proxy-l4), or gRPC's own round_robin over every replica's address (client)"
        " (default: %(default)s)",
    )
