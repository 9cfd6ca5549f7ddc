"""`orderflow serve SERVICE`: one service in the foreground, configured by the environment (what
a container runs)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from services.kernel.config import SERVICES

HELP = "run one service in the foreground (what a container runs)"
DESCRIPTION = """\
Runs one service in this process until SIGINT or SIGTERM, then exits 0. It is configured
only through the environment (ORDERFLOW_HOST, ORDERFLOW_DATA_DIR,
ORDERFLOW_<SERVICE>_HTTP_PORT / _GRPC_PORT, ...); a bad value exits 2 naming the
variable. Each service binds ORDERFLOW_HOST (0.0.0.0 in a container) and reaches the
others at ORDERFLOW_<SERVICE>_HOST (default: ORDERFLOW_HOST), e.g.
ORDERFLOW_INVENTORY_HOST=inventory."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", choices=SERVICES, help="the service to run")


def run(args: argparse.Namespace) -> int:
    # Imported by name: the harness reaches a service only through its composition root's main.
    module = importlib.import_module(f"services.{args.service}.main")
    service_main: Callable[[], None] = module.main
    service_main()
    return 0
