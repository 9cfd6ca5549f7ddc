"""The pika link and the outbox relay against the machine's real RabbitMQ, in a namespace of
this module's own (deleted afterwards). Without a reachable broker these tests fail, saying so."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pika
import pika.exceptions
import pytest

from harness.rabbit.admin import channel, delete_topology
from harness.stack.ports import free_ports
from services.inventory.store import InventoryStore
from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import REASON, EventConsumer
from services.kernel.broker.events import CloudEvent, decode, new_event
from services.kernel.broker.link import BrokerLink, BrokerUnavailable, Delivery, NotConfirmed
from services.kernel.broker.outbox import OutboxRelay
from services.kernel.broker.topology import Topology
from services.kernel.telemetry import Telemetry

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    try:
        with channel(URL):
            pass
    except pika.exceptions.AMQPConnectionError:
        pytest.fail(f"these tests need RabbitMQ at {URL} (guest/guest); it does not answer")
    made = Topology(f"it-{uuid.uuid4().hex[:10]}")
    yield made
    delete_topology(URL, made)


@contextlib.asynccontextmanager
async def running(link: BrokerLink) -> AsyncIterator[BrokerLink]:
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def depth(queue: str) -> int:
    with channel(URL) as ch:
        return int(ch.queue_declare(queue, passive=True).method.message_count)


def properties(message_id: str) -> pika.BasicProperties:
    return pika.BasicProperties(message_id=message_id, delivery_mode=2)


async def test_a_confirmed_publish_is_in_every_subscribed_queue(topology: Topology) -> None:
    async with running(BrokerLink(URL, topology, Telemetry("t"))) as link:
        await asyncio.wait_for(link.connected.wait(), 10)
        before = depth(topology.queue("payment")), depth(topology.queue("order"))
        body = new_event(ev.INVENTORY_RESERVED, "t", {}, "c").encode()
        await link.publish(topology.events, ev.INVENTORY_RESERVED, body, properties("m-1"))
        # inventory.reserved goes to payment and to order: both queues hold a copy.
        assert (depth(topology.queue("payment")), depth(topology.queue("order"))) == (
            before[0] + 1,
            before[1] + 1,
        )
        with channel(URL) as ch:
            ch.queue_purge(topology.queue("payment"))
            ch.queue_purge(topology.queue("order"))


async def test_a_message_no_queue_wants_is_not_confirmed(topology: Topology) -> None:
    async with running(BrokerLink(URL, topology, Telemetry("t"))) as link:
        await asyncio.wait_for(link.connected.wait(), 10)
        with pytest.raises(NotConfirmed, match="returned"):
            await link.publish(topology.events, "nobody.listens", b"{}", properties("m-2"))


async def test_deliveries_are_acked_only_after_the_handler_returns(topology: Topology) -> None:
    """A link that goes away while its handler is still busy leaves the message in the queue
    (the broker redelivers it); once a handler returns, the message is gone."""
    queue = topology.queue("notification")
    arrived = asyncio.Event()

    async def busy(delivery: Delivery) -> None:
        arrived.set()
        await asyncio.Event().wait()  # never finishes while the link is up

    link = BrokerLink(URL, topology, Telemetry("t"), consume=queue, on_delivery=busy)
    async with running(link):
        await asyncio.wait_for(link.connected.wait(), 10)
        body = new_event(ev.ORDER_CONFIRMED, "t", {}, "c").encode()
        await link.publish(topology.events, ev.ORDER_CONFIRMED, body, properties("m-3"))
        await asyncio.wait_for(arrived.wait(), 10)
    assert depth(queue) == 1  # not acked: back in the queue

    handled: list[Delivery] = []
    done = asyncio.Event()

    async def quick(delivery: Delivery) -> None:
        handled.append(delivery)
        done.set()

    link = BrokerLink(URL, topology, Telemetry("t"), consume=queue, on_delivery=quick)
    async with running(link):
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0.3)  # the ack is sent right after the handler returns
    assert handled[0].body == body and handled[0].redelivered
    assert depth(queue) == 0


async def test_the_consumed_queues_depth_is_on_metrics(topology: Topology) -> None:
    """What waits beyond the prefetch (the messages the broker has not delivered yet) is the
    queue's depth on /metrics, read again once a second: the harness plots it."""
    queue = topology.queue("inventory")
    release = asyncio.Event()

    async def stuck(delivery: Delivery) -> None:
        await release.wait()

    telemetry = Telemetry("t")
    link = BrokerLink(URL, topology, telemetry, consume=queue, on_delivery=stuck, prefetch=2)
    async with running(link):
        await asyncio.wait_for(link.connected.wait(), 10)
        body = new_event(ev.ORDER_PLACED, "t", {}, "c").encode()
        for n in range(5):
            await link.publish(topology.events, ev.ORDER_PLACED, body, properties(f"d-{n}"))
        waiting = await _metric_becomes(telemetry, "orderflow_broker_queue_depth", 3.0)
        assert waiting == 3.0  # five published, two delivered to the stuck handler
        release.set()
        assert await _metric_becomes(telemetry, "orderflow_broker_queue_depth", 0.0) == 0.0


async def _metric_becomes(telemetry: Telemetry, name: str, value: float) -> float | None:
    found = None
    for _ in range(50):
        found = telemetry.registry.get_sample_value(name)
        if found == value:
            break
        await asyncio.sleep(0.1)
    return found


async def test_a_link_to_no_broker_is_down_and_refuses_to_publish() -> None:
    [port] = free_ports(1, "127.0.0.1")
    link = BrokerLink(f"amqp://guest:guest@127.0.0.1:{port}/%2F", Topology("x"), Telemetry("t"))
    async with running(link):
        await asyncio.sleep(1.0)
        assert not link.connected.is_set()
        with pytest.raises(BrokerUnavailable):
            await link.publish("x.events", "k", b"{}", properties("m-4"))


async def test_the_relay_publishes_the_outbox_in_order_and_marks_it(
    topology: Topology, tmp_path: Path
) -> None:
    store = InventoryStore.open(tmp_path / "inventory.db")
    events = [new_event(ev.PAYMENT_DECLINED, "t", {"n": n}, f"c-{n}") for n in range(5)]
    with store.transaction():
        for event in events:
            store.messages.emit(event)
    link = BrokerLink(URL, topology, Telemetry("t"))
    relay = OutboxRelay(store.messages, link, topology)
    async with running(link):
        task = asyncio.create_task(relay.run())
        for _ in range(100):
            if store.messages.backlog() == 0:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert store.messages.backlog() == 0
    with channel(URL) as ch:
        seen = []
        while (got := ch.basic_get(topology.queue("inventory"), auto_ack=True))[0] is not None:
            seen.append(decode(got[2]).id)
    assert seen == [event.id for event in events]
    store.close()


async def test_a_transient_failure_comes_back_through_the_ttl_queues_then_dead_letters() -> None:
    """The real round trip: fail, wait in retry.1, fail, wait in retry.2, fail, land in the
    DLQ with the reason, with the waits the TTLs promise."""
    topology = Topology(f"it-{uuid.uuid4().hex[:10]}", retry_delays_ms=(300, 600))
    tries: list[float] = []
    gave_up = asyncio.Event()

    async def flaky(event: CloudEvent) -> None:
        tries.append(asyncio.get_running_loop().time())
        if len(tries) == topology.max_attempts:
            gave_up.set()
        raise RuntimeError("database is locked")

    consumer = EventConsumer("payment", topology, {ev.INVENTORY_RESERVED: flaky}, Telemetry("t"))
    link = BrokerLink(
        URL, topology, Telemetry("t"), consume=topology.queue("payment"), on_delivery=consumer
    )
    consumer.attach(link)
    try:
        async with running(link):
            await asyncio.wait_for(link.connected.wait(), 10)
            body = new_event(ev.INVENTORY_RESERVED, "t", {}, "c").encode()
            await link.publish(topology.events, ev.INVENTORY_RESERVED, body, properties("m-5"))
            await asyncio.wait_for(gave_up.wait(), 10)
            await asyncio.sleep(0.3)  # the dead-letter copy is published, then the ack
        waits = [later - earlier for earlier, later in itertools.pairwise(tries)]
        assert len(tries) == 3 and waits[0] >= 0.3 and waits[1] >= 0.6
        with channel(URL) as ch:
            method, props, dead = ch.basic_get(topology.dlq("payment"), auto_ack=True)
        assert method is not None and dead == body
        assert "gave up after 3 attempts" in props.headers[REASON]
        assert "database is locked" in props.headers[REASON]
    finally:
        delete_topology(URL, topology)


async def test_a_deleted_queue_is_declared_again_and_consuming_resumes() -> None:
    """Someone deletes a service's queue under it: the publish that comes back unroutable and
    the cancelled consumer both make the link reconnect, which declares the topology again."""
    topology = Topology(f"it-{uuid.uuid4().hex[:10]}")
    got: list[bytes] = []
    arrived = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        got.append(delivery.body)
        arrived.set()

    queue = topology.queue("notification")
    link = BrokerLink(URL, topology, Telemetry("t"), consume=queue, on_delivery=handler)
    try:
        async with running(link):
            await asyncio.wait_for(link.connected.wait(), 10)
            with channel(URL) as ch:
                ch.queue_delete(queue)
            body = new_event(ev.ORDER_CONFIRMED, "t", {}, "c").encode()
            with pytest.raises((NotConfirmed, BrokerUnavailable)):
                await link.publish(topology.events, ev.ORDER_CONFIRMED, body, properties("m-6"))
            for _ in range(100):  # reconnected, declared, consuming again
                with contextlib.suppress(BrokerUnavailable, NotConfirmed):
                    await link.publish(topology.events, ev.ORDER_CONFIRMED, body, properties("m-7"))
                    break
                await asyncio.sleep(0.1)
            await asyncio.wait_for(arrived.wait(), 10)
        assert got == [body]
    finally:
        delete_topology(URL, topology)


class FreezableProxy:
    """A TCP relay to the real broker that can stop relaying, as a hung broker would, and
    tells when the client side of a connection is closed."""

    def __init__(self) -> None:
        self.frozen = False
        self.client_gone = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5672)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if not self.frozen:
                    sink.write(data)

        upstream = asyncio.create_task(pump(up_reader, writer))
        with contextlib.suppress(ConnectionError):
            await pump(reader, up_writer)  # ends when the client closes its socket
        self.client_gone.set()
        upstream.cancel()
        for end in (writer, up_writer):
            end.close()


async def test_a_link_closed_while_the_broker_hangs_still_releases_its_socket(
    topology: Topology,
) -> None:
    """Shutting down while the broker never answers Close: the socket is dropped after the
    wait instead of being left open for the garbage collector to find."""
    proxy = FreezableProxy()
    port = await proxy.start()
    link = BrokerLink(f"amqp://guest:guest@127.0.0.1:{port}/%2F", topology, Telemetry("t"))
    try:
        async with running(link):
            await asyncio.wait_for(link.connected.wait(), 10)
            proxy.frozen = True
        await asyncio.wait_for(proxy.client_gone.wait(), 1)
    finally:
        await proxy.close()
