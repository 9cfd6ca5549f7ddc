"""`orderflow dlq`: what sits in each dead-letter queue of the broker style, and replaying it."""

from __future__ import annotations

import argparse

import pika.exceptions

from harness.rabbit import admin as rabbit_admin
from services.kernel.broker.topology import Topology
from services.kernel.config import ConfigError, Settings, redacted

ACCESS_REFUSED = 403

HELP = "list (or replay) the broker style's dead-letter queues"
DESCRIPTION = """\
Lists the messages in each service's dead-letter queue (<namespace>.<service>.dlq): their event
type, correlation id, how many times they were tried and why they were dead-lettered. Listing
leaves them in place. --replay SERVICE sends that service's dead letters back to its queue for
another try (e.g. after fixing what made them fail).

The broker and namespace come from ORDERFLOW_BROKER_URL and ORDERFLOW_BROKER_NAMESPACE (as for
the services), or from --url and --namespace. A URL without a user connects as the project's
`admin` user (harness/rabbit/definitions.json): only the operator may read the DLQs."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="AMQP URL (default: ORDERFLOW_BROKER_URL or the local one)")
    parser.add_argument(
        "--namespace", help="topology prefix (default: ORDERFLOW_BROKER_NAMESPACE or orderflow)"
    )
    parser.add_argument(
        "--replay",
        metavar="SERVICE",
        choices=["order", "inventory", "payment", "notification"],
        help="move SERVICE's dead letters back to its queue",
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"orderflow dlq: configuration error: {error}")
        return 2
    url = args.url or settings.broker_url
    topology = Topology(args.namespace or settings.broker_namespace)
    try:
        if args.replay:
            moved = rabbit_admin.replay(url, topology, args.replay)
            print(f"replayed {moved} message(s) from {topology.dlq(args.replay)}")
            return 0
        _show(rabbit_admin.dead_letters(url, topology))
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == ACCESS_REFUSED:
            print(f"orderflow dlq: the broker refused it: {error.reply_text}")
            return 1
        print(f"orderflow dlq: no such topology under {topology.namespace!r}: {error.reply_text}")
        return 1
    except pika.exceptions.AMQPConnectionError:
        print(f"orderflow dlq: cannot connect to the broker at {redacted(url)}")
        return 1
    return 0


def _show(found: dict[str, list[rabbit_admin.DeadLetter]]) -> None:
    for service, letters in found.items():
        print(f"{service}: {len(letters)} dead letter(s)")
        for letter in letters:
            print(
                f"  - {letter.type or '?'} id={letter.message_id or '-'} "
                f"correlation={letter.correlation_id or '-'} attempts={letter.attempts}"
            )
            print(f"    reason: {letter.reason}")
