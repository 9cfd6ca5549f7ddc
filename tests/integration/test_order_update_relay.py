"""Live updates across order replicas on one PostgreSQL database (update_relay.py): two replicas
in this process, each with its own store connection, saga and relay; fakes of the downstream
ports (as the gRPC adapter's integration test). A client watching on replica A sees every status
of an order replica B drives; the relay survives the loss of its connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import psycopg
import pytest

from services._generated.orderflow.v1 import order_pb2, order_pb2_grpc
from services.kernel.contracts import Line
from services.kernel.telemetry import Telemetry
from services.order import domain
from services.order.api.grpc import create_server
from services.order.domain import Order, OrderLine, PlaceOrder, Status
from services.order.downstream.interfaces import Downstream
from services.order.handlers import OrderHandlers
from services.order.saga import Saga
from services.order.store import OrderStore
from services.order.update_relay import UpdateRelay
from services.order.updates import OrderUpdates
from tests.unit.fakes import FakeInventory, FakeNotifier, FakePayment

COMMAND = PlaceOrder("c1", (Line("KB-MECH", 1),), "tok_visa")
PRICED = (OrderLine("KB-MECH", 1, 8999),)
EVERY_STATUS = ["PENDING", "RESERVED", "PAID", "CONFIRMED"]


class GatedInventory(FakeInventory):
    """Holds reservations until the gate opens, so a test can watch an order from PENDING."""

    def __init__(self) -> None:
        super().__init__({"KB-MECH": 100}, {"KB-MECH": 8999})
        self.gate, self.waiting = asyncio.Event(), asyncio.Event()

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        self.waiting.set()
        await self.gate.wait()
        return await super().reserve(order_id, lines)


class Replica:
    """One order process's worth of the order service: what main.py builds, minus the network."""

    def __init__(self, url: str, inventory: FakeInventory) -> None:
        self.store = OrderStore.open(url)
        downstream = Downstream(inventory, FakePayment(), FakeNotifier())
        self.saga = Saga(self.store, downstream, Telemetry("order"))
        self.handlers = OrderHandlers(self.store, self.saga)
        self.relay = UpdateRelay(url, self.store, self.saga.updates)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.relay.run())
        async with asyncio.timeout(10):
            await self.relay.connected.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.handlers.stop(1.0)
        self.store.close()


@pytest.fixture
def inventory() -> GatedInventory:
    return GatedInventory()


@pytest.fixture
async def replicas(postgres_url: str, inventory: GatedInventory) -> AsyncIterator[list[Replica]]:
    both = [Replica(postgres_url, inventory), Replica(postgres_url, inventory)]
    try:
        for replica in both:
            await replica.start()
        yield both
    finally:
        for replica in both:
            await replica.stop()


@pytest.fixture
async def stub_on_a(replicas: list[Replica]) -> AsyncIterator[order_pb2_grpc.OrderServiceStub]:
    server, port = create_server(replicas[0].handlers, "127.0.0.1", 0, max_message_bytes=4096)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield order_pb2_grpc.OrderServiceStub(channel)
    finally:
        await server.stop(None)


async def test_watch_order_on_one_replica_sees_every_status_the_other_saves(
    replicas: list[Replica],
    inventory: GatedInventory,
    stub_on_a: order_pb2_grpc.OrderServiceAsyncStub,
) -> None:
    _, b = replicas
    placing = asyncio.ensure_future(b.handlers.place_order(COMMAND))
    await inventory.waiting.wait()  # recorded PENDING on B, held at the gate
    (pending,) = await b.handlers.list_orders("c1")
    watch = stub_on_a.WatchOrder(order_pb2.WatchOrderRequest(id=pending.id))
    seen = [await watch.read()]  # subscribed on A while the order waits
    inventory.gate.set()
    while (update := await watch.read()) != grpc.aio.EOF:
        seen.append(update)
    statuses = [
        order_pb2.Order.Status.Name(u.status) for u in seen if isinstance(u, order_pb2.Order)
    ]
    assert statuses == EVERY_STATUS
    assert await watch.code() is grpc.StatusCode.OK
    order, _ = await placing
    assert order.status is Status.CONFIRMED


async def test_a_long_poll_and_the_status_stream_on_one_replica_wake_on_the_other(
    replicas: list[Replica], inventory: GatedInventory
) -> None:
    """The streams that resume by number read the store; the relay only wakes them."""
    a, b = replicas
    placing = asyncio.ensure_future(b.handlers.place_order(COMMAND))
    await inventory.waiting.wait()
    (pending,) = await b.handlers.list_orders("c1")
    stream = a.handlers.status_changes(pending.id)
    assert (await anext(stream)).status is Status.PENDING
    polling = asyncio.ensure_future(a.handlers.await_change(pending.id, wait_s=60))
    await asyncio.sleep(0)  # the long poll subscribes
    inventory.gate.set()
    assert (await polling).status is not Status.PENDING  # woken, not timed out
    assert [c.status.value async for c in stream] == EVERY_STATUS[1:]
    await placing


async def test_the_relay_listens_again_and_catches_up_after_its_connection_is_killed(
    replicas: list[Replica], postgres_url: str
) -> None:
    a, b = replicas
    order = domain.new_order("o1", COMMAND, "t0")
    with b.store.transaction():
        b.store.add(order)
    watcher = a.handlers.watch_order(order.id)
    assert (await anext(watcher)).status is Status.PENDING
    reserved = domain.reserved(order, PRICED, "t1")
    with b.store.transaction():
        b.store.update(reserved)
    assert (await anext(watcher)).status is Status.RESERVED  # live
    await _relayed_so_far(a, b)
    _terminate(postgres_url, a.relay.application_name)
    # Saved while A's relay has no connection, with no await between: no one on A hears it.
    paid = domain.paid(reserved, "t2")
    for saved in (paid, domain.confirmed(paid, "t3")):
        with b.store.transaction():
            b.store.update(saved)
    async with asyncio.timeout(30):
        caught_up = [o.status.value async for o in watcher]
    assert caught_up == ["PAID", "CONFIRMED"]  # read again on listening again: nothing missed
    assert a.relay.connections == 2
    assert _backends(postgres_url, a.relay.application_name) == 1  # listening again
    assert b.relay.connections == 1  # B's connection was not touched


class ReadCountingStore(OrderStore):
    reads = 0

    def get(self, order_id: str) -> Order | None:
        self.reads += 1
        return super().get(order_id)


async def test_announcements_for_orders_nobody_here_watches_cost_no_read(
    postgres_url: str,
) -> None:
    store, updates = ReadCountingStore.open(postgres_url), OrderUpdates()
    relay = UpdateRelay(postgres_url, store, updates, origin="here")
    with store.transaction():
        store.add(domain.new_order("watched", COMMAND, "t0"))
    with updates.watch("watched") as queue:
        for n in range(10_000):
            relay.received(f"elsewhere 1 order-{n}")
        relay.received("here 1 watched")  # its own: its saga published it already
        relay.received("elsewhere x watched")  # not ours to parse: dropped
        await asyncio.sleep(0)  # a read scheduled would have run now
        assert (store.reads, queue.qsize()) == (0, 0)
        relay.received("elsewhere 1 watched")
        relay.received("elsewhere 1 watched")  # the same burst: read once
        await asyncio.sleep(0)
        assert (store.reads, queue.get_nowait().status) == (1, Status.PENDING)
    store.close()


def test_on_sqlite_the_store_announces_nothing(tmp_path: Path) -> None:
    store = OrderStore.open(tmp_path / "order.db")
    order = domain.new_order("o1", COMMAND, "t0")
    with store.transaction():  # pg_notify does not exist on SQLite: a call would fail here
        store.add(order)
        store.update(domain.reserved(order, PRICED, "t1"))
    assert [c.status for c in store.status_changes("o1")] == [Status.PENDING, Status.RESERVED]
    store.close()


async def _relayed_so_far(a: Replica, b: Replica) -> None:
    """Returns once A's relay has published everything B announced so far: a marker order,
    announced after them on the same channel, has reached A (one connection delivers in order)."""
    marker = domain.new_order(f"marker-{uuid.uuid4()}", COMMAND, "t0")
    with a.saga.updates.watch(marker.id) as queue:
        with b.store.transaction():
            b.store.add(marker)
        async with asyncio.timeout(10):
            await queue.get()


def _terminate(url: str, application_name: str) -> None:
    """End the relay's backend (only that one), waiting until it has exited."""
    with psycopg.connect(url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (application_name,),
        ).fetchall()
    assert ended == [(True,)]


def _backends(url: str, application_name: str) -> int:
    with psycopg.connect(url, autocommit=True) as admin:
        [(count,)] = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchall()
    return int(count)
