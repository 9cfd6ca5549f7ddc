"""`orderflow broker`: a private RabbitMQ node in the foreground, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Final

from harness.cli.options import add_data_dir, add_timeout
from harness.rabbit.node import BrokerError, BrokerPortInUse, PrivateBroker
from harness.stack.signals import Interrupted, signals_raise_once

WATCH_POLL_S: Final = 0.2
READY_LINE: Final = "orderflow broker: ready; press Ctrl-C (or send SIGTERM) to stop it"

HELP = "run a private RabbitMQ node (own ports and data) until Ctrl-C"
DESCRIPTION = """\
Starts a RabbitMQ node of its own (needs rabbitmq-server installed), separate from any broker
already on this machine: own node name, Erlang cookie, ports and data directory. It listens on
127.0.0.1 only, prints its AMQP URL and the ORDERFLOW_BROKER_URL line for the services, and runs
until SIGINT or SIGTERM; then it stops the node and exits 0.

The node has the project's users and permissions (harness/rabbit/definitions.json; no guest):
with the printed URL, which names no user, `orderflow up` connects each service as its own user
and clients connect as `client`, in the `orderflow` namespace; tools such as `orderflow dlq`
connect as `admin`.

Durable queues and persistent messages stay in the data directory, so running the command again
with the same --data-dir finds them again. The node's log is DATA_DIR/logs/broker.log.

Exit codes: 0 stopped on request, 1 the node failed to start or stopped by itself, 2 the port
is taken."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_dir(
        parser,
        "data and log of the node (default: $ORDERFLOW_DATA_DIR/broker or .orderflow/broker)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        metavar="N",
        help="the AMQP port on 127.0.0.1 (default: a free one below 32768)",
    )
    add_timeout(parser, "the node to accept connections")


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or Path(os.environ.get("ORDERFLOW_DATA_DIR", ".orderflow")) / "broker"
    broker = PrivateBroker(data_dir, amqp_port=args.port)
    with signals_raise_once():
        try:
            return _serve(broker, args.timeout)
        except Interrupted as stopped:
            _say(f"{signal.Signals(stopped.signum).name}, stopping {broker.node}")
            return 0
        finally:
            broker.stop()
            _say("stopped")


def _serve(broker: PrivateBroker, timeout_s: float) -> int:
    _say(f"starting {broker.node} on port {broker.amqp_port} (log: {broker.log_path})")
    started = time.monotonic()
    try:
        broker.start(timeout_s=timeout_s)
    except BrokerPortInUse as error:
        return _fail(str(error), code=2)
    except BrokerError as error:
        return _fail(str(error), code=1)
    _say(f"{broker.node} started in {time.monotonic() - started:.1f}s")
    print(
        f"\nAMQP URL: {broker.url} (as the operator: {broker.amqp_url})\n"
        "For orderflow up (each service as its own user) and its clients, in their environment:\n"
        f"ORDERFLOW_BROKER_URL={broker.url}\n",
        READY_LINE,
        sep="\n",
        flush=True,
    )
    while broker.is_running():
        time.sleep(WATCH_POLL_S)
    tail = broker.log_tail()
    return _fail(f"{broker.node} stopped by itself; last lines of {broker.log_path}:\n{tail}", 1)


def _say(message: str) -> None:
    print(f"orderflow broker: {message}", flush=True)


def _fail(message: str, code: int) -> int:
    print(f"orderflow broker: {message}", file=sys.stderr, flush=True)
    return code
