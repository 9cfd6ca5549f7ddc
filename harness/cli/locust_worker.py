"""`orderflow locust-worker --master HOST[:PORT]`: a Locust worker for `orderflow bench
--master-bind HOST[:PORT] --expect-workers N`, on this machine or another (docs/bench.md,
Distributed load)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Final

from harness.bench.options import host_port
from harness.bench.runner import LOCUSTFILE
from harness.stack.signals import Interrupted, signals_raise_once

HELP = "run a Locust worker for a distributed `orderflow bench` (on any machine)"
DESCRIPTION = """\
Runs Locust workers with orderflow's users (harness/load/locustfile.py) for a bench whose Locust
master listens at HOST:PORT (`orderflow bench --master-bind HOST:PORT --expect-workers N`; port
5557 if not given). Start N of them, here or on other machines with orderflow installed, before
or after the bench; stop them with Ctrl-C (or SIGTERM) when the bench is done.

The bench runs one Locust master per phase (each style's calibration and load), and a Locust
worker ends with its master; so this command starts the next worker as soon as one ends, and
that worker waits for the next phase's master. Everything else comes from the master: the
users, the load, the addresses of the stack under load (which must be reachable from here) and
the results, which the workers send back to it.

Exit codes: 0 stopped on request, 2 invalid arguments."""

RESTART_PAUSE_S: Final = 1.0  # between one worker's end and the next's start
STOP_WAIT_S: Final = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--master",
        type=host_port,
        required=True,
        metavar="HOST[:PORT]",
        help="where the bench's Locust master listens (its --master-bind; port 5557 if not given)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="Locust worker processes to run here, each a worker of its own (default 1)",
    )


def command(host: str, port: int, processes: int = 1) -> list[str]:
    """One Locust worker (or `processes` of them) for the master at host:port."""
    found = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
        "--master-host", host, "--master-port", str(port), "--loglevel", "WARNING",
    ]  # fmt: skip
    if processes > 1:
        found += ["--processes", str(processes)]
    return found


def run(args: argparse.Namespace) -> int:
    if args.processes < 1:
        print("orderflow locust-worker: --processes must be positive", file=sys.stderr)
        return 2
    host, port = args.master
    print(
        f"orderflow locust-worker: serving the bench's master at {host}:{port}, a new worker"
        " after each phase (Ctrl-C to stop)",
        flush=True,
    )
    with signals_raise_once():
        try:
            _serve(command(host, port, args.processes))
        except Interrupted:
            print("orderflow locust-worker: stopped", flush=True)
    return 0


def _serve(argv: list[str]) -> None:
    """Start a worker, wait for its end, start the next: until a signal interrupts."""
    while True:
        worker = subprocess.Popen(argv)
        try:
            worker.wait()
        finally:
            _stop(worker)
        time.sleep(RESTART_PAUSE_S)


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
