"""Two outbox relays, in two real processes, on one PostgreSQL database and the machine's real
RabbitMQ (a namespace of this test's own, deleted afterwards): while both run and rows keep
being written, every row is published once, by one of them. Without the broker or the database
this fails, saying so."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import uuid
from collections import Counter
from multiprocessing.synchronize import Event
from typing import Any

import pika
import pika.exceptions
import pytest

from harness.rabbit.admin import channel, delete_topology
from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import decode, new_event
from services.kernel.broker.link import BrokerLink
from services.kernel.broker.outbox import IDLE_POLL_S, OutboxRelay
from services.kernel.broker.topology import Topology
from services.kernel.lease import Lease
from services.kernel.telemetry import Telemetry
from services.order.store import OrderStore

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
RELAYS = 2
WAVES = 30
ROWS_EACH = 20  # per wave: 600 rows in all, three batches' worth per relay at least
# Between waves. A relay that finds nothing sleeps IDLE_POLL_S, and rows written by another
# process do not wake it: the writing must outlast a few of its polls, or the relay that found
# rows first can drain every wave while the other sleeps (a CI run once saw 600 to 0).
WAVE_GAP_S = IDLE_POLL_S / 10


def test_two_relays_on_one_outbox_publish_each_row_once(postgres_url: str) -> None:
    try:
        with channel(URL):
            pass
    except pika.exceptions.AMQPConnectionError:
        pytest.fail(f"this test needs RabbitMQ at {URL} (guest/guest); it does not answer")
    topology = Topology(f"it-{uuid.uuid4().hex[:10]}")
    store = OrderStore.open(postgres_url)
    try:
        published, emitted = _relay_while_writing(postgres_url, topology, store)
        assert store.messages.backlog() == 0
        with channel(URL) as ch:
            seen = Counter(_drain(ch, topology.queue("inventory")))
    finally:
        store.close()
        delete_topology(URL, topology)
    assert sorted(seen) == sorted(emitted) and set(seen.values()) == {1}  # each once
    assert sum(published) == len(emitted) and all(published)  # both relays did their share


def _relay_while_writing(
    url: str, topology: Topology, store: OrderStore
) -> tuple[list[int], list[str]]:
    context = multiprocessing.get_context("spawn")
    written, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_relay, args=(url, topology.namespace, n, written, results))
        for n in range(RELAYS)
    ]
    for worker in workers:
        worker.start()
    # Both relays connected before the first row: on a busy machine a process that starts late
    # would otherwise find the outbox already drained by the other.
    for _ in workers:
        assert results.get(timeout=90) == "connected"
    emitted: list[str] = []
    for wave in range(WAVES):  # rows keep coming while both relays run
        events = [
            new_event(ev.ORDER_PLACED, "order", {"n": n}, f"c-{wave}-{n}") for n in range(ROWS_EACH)
        ]
        with store.transaction():
            for event in events:
                store.messages.emit(event)
        emitted += [event.id for event in events]
        asyncio.run(asyncio.sleep(WAVE_GAP_S))
    written.set()
    published = [results.get(timeout=90) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return published, emitted


def _drain(ch: Any, queue: str) -> list[str]:
    ids = []
    while (got := ch.basic_get(queue, auto_ack=True))[0] is not None:
        ids.append(decode(got[2]).id)
    return ids


def _relay(url: str, namespace: str, number: int, written: Event, results: Any) -> None:
    results.put(asyncio.run(_run_relay(url, Topology(namespace), number, written, results)))


async def _run_relay(
    url: str, topology: Topology, number: int, written: Event, connected: Any
) -> int:
    """Relay until every row is written and none is left; return how many this one published."""
    store = OrderStore.open(url)
    link = BrokerLink(URL, topology, Telemetry("t"))
    publish, count = link.publish, 0

    async def counted(*args: Any, **kwargs: Any) -> None:
        nonlocal count
        await publish(*args, **kwargs)
        count += 1

    link.publish = counted  # type: ignore[method-assign]
    relay = OutboxRelay(store.messages, link, topology, Lease(f"relay-{number}"))
    tasks = [asyncio.create_task(link.run()), asyncio.create_task(relay.run())]
    await asyncio.wait_for(link.connected.wait(), timeout=60)
    connected.put("connected")
    try:
        # Written by another process, relayed by two: no event to wait for.
        while not (written.is_set() and store.messages.backlog() == 0):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks)
        store.close()
    return count
