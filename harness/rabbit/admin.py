"""Operator tools for the broker style: what sits in each dead-letter queue, replaying it, and
removing a namespace's topology (tests and throw-away stacks clean up after themselves).

A URL without a user connects as the project's `admin` user (harness/rabbit/users.py): these are
operator tasks, beyond what any service or client may do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pika

from harness.rabbit import users as rabbit_users
from services.kernel.broker.consumer import ATTEMPTS, ORIGINAL_KEY, REASON
from services.kernel.broker.topology import Topology

PREVIEW = 200


@dataclass(frozen=True)
class DeadLetter:
    service: str
    type: str | None
    message_id: str | None
    correlation_id: str | None
    reason: str
    attempts: int
    preview: str


@contextlib.contextmanager
def channel(url: str, timeout_s: float | None = None) -> Iterator[Any]:
    """A channel on a connection of its own; with `timeout_s`, one try at connecting and that
    long for the socket and the handshake (a watcher polling a broker that may be down)."""
    parameters = pika.URLParameters(rabbit_users.resolve(url, rabbit_users.ADMIN))
    if timeout_s is not None:
        parameters.socket_timeout = timeout_s
        parameters.blocked_connection_timeout = timeout_s
        parameters.connection_attempts = 1
    connection = pika.BlockingConnection(parameters)
    try:
        yield connection.channel()
    finally:
        if connection.is_open:
            connection.close()


def dead_letters(url: str, topology: Topology) -> dict[str, list[DeadLetter]]:
    """Every message in every DLQ of the namespace, left in place (read, then requeued)."""
    found: dict[str, list[DeadLetter]] = {}
    with channel(url) as ch:
        for service in topology.subscriptions:
            queue = topology.dlq(service)
            depth = ch.queue_declare(queue, passive=True).method.message_count
            letters: list[DeadLetter] = []
            tags: list[int] = []
            for _ in range(depth):
                method, properties, body = ch.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                tags.append(method.delivery_tag)
                letters.append(_letter(service, properties, body))
            for tag in tags:
                ch.basic_nack(tag, requeue=True)
            found[service] = letters
    return found


def replay(url: str, topology: Topology, service: str) -> int:
    """Send a service's dead letters back to its queue for one more try (after a fix, say).
    Each is republished with confirms before it leaves the DLQ: a crash duplicates, never loses."""
    moved = 0
    with channel(url) as ch:
        ch.confirm_delivery()
        # Only what is there now: a message that fails again comes back to the DLQ meanwhile.
        depth = ch.queue_declare(topology.dlq(service), passive=True).method.message_count
        for _ in range(depth):
            method, properties, body = ch.basic_get(topology.dlq(service), auto_ack=False)
            if method is None:
                break
            headers = {k: v for k, v in (properties.headers or {}).items() if k != ATTEMPTS}
            properties.headers = headers
            ch.basic_publish("", topology.queue(service), body, properties, mandatory=True)
            ch.basic_ack(method.delivery_tag)
            moved += 1
    return moved


def delete_topology(url: str, topology: Topology) -> None:
    """Remove every queue and exchange of the namespace (never another namespace's)."""
    with channel(url) as ch:
        for queue in topology.queues():
            ch.queue_delete(queue)
        ch.exchange_delete(topology.events)
        ch.exchange_delete(topology.dlx)


def _letter(service: str, properties: Any, body: bytes) -> DeadLetter:
    headers = properties.headers or {}
    return DeadLetter(
        service=service,
        type=properties.type or _text(headers.get(ORIGINAL_KEY)),
        message_id=properties.message_id,
        correlation_id=properties.correlation_id,
        reason=_text(headers.get(REASON)) or "rejected by the broker (no reason recorded)",
        attempts=int(headers.get(ATTEMPTS, 0)),
        preview=body[:PREVIEW].decode("utf-8", "replace"),
    )


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
