"""The options several sub-commands take, declared once: the same flag has the same type,
placeholder and default wherever it appears; only what it is about is the command's own."""

from __future__ import annotations

import argparse
from pathlib import Path


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
