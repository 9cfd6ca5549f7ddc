"""Two order replicas (each its own connection, saga, handlers and replica id) on one PostgreSQL
database, sharing the downstream services (fakes that keep the real ones' idempotency): an
order is driven by one replica at a time, and a replica whose lease lapsed is taken over and
saves nothing. The same with real processes killed mid-saga: tests/e2e/test_replicas.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from services.kernel.contracts import Line
from services.kernel.lease import Lease
from services.kernel.telemetry import Telemetry
from services.order.domain import PlaceOrder, SagaState
from services.order.downstream.interfaces import ChargeResult, Downstream
from services.order.handlers import OrderHandlers
from services.order.notifications import NotificationDelivery, Round
from services.order.saga import Saga
from services.order.store import OrderStore
from tests.unit.fakes import FakeInventory, FakeNotifier, FakePayment

LEASE_S = 10.0


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class HeldFirstCharge(FakePayment):
    """Payment takes the first charge and answers it only when released; later ones at once."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult:
        first = not self.called.is_set()
        self.called.set()
        result = await super().charge(order_id, customer_id, amount_cents, token)
        if first:
            await self.gate.wait()
        return result


@dataclass
class Replica:
    store: OrderStore
    handlers: OrderHandlers
    delivery: NotificationDelivery


@dataclass
class Shared:
    """The downstream services both replicas call."""

    inventory: FakeInventory = field(
        default_factory=lambda: FakeInventory(stock={"KB-MECH": 10}, prices={"KB-MECH": 8999})
    )
    payment: HeldFirstCharge = field(default_factory=HeldFirstCharge)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)


@pytest.fixture
async def pair(postgres_url: str) -> AsyncIterator[tuple[Replica, Replica, Shared, Clock]]:
    shared, clock = Shared(), Clock()
    replicas = [start(postgres_url, shared, Lease(name, LEASE_S, clock)) for name in "ab"]
    yield replicas[0], replicas[1], shared, clock
    for replica in replicas:
        await replica.handlers.stop(grace_s=0)
        replica.store.close()


def start(url: str, shared: Shared, lease: Lease) -> Replica:
    store = OrderStore.open(url)
    downstream = Downstream(shared.inventory, shared.payment, shared.notifier)
    telemetry = Telemetry("order")
    delivery = NotificationDelivery(store, downstream, telemetry, lease=lease)
    saga = Saga(store, downstream, telemetry, on_owed=delivery.owed, lease=lease)
    return Replica(store, OrderHandlers(store, saga), delivery)


COMMAND = PlaceOrder("c1", (Line("KB-MECH", 2),), "tok_visa", "key-1")


async def test_an_order_is_driven_by_the_replica_that_claimed_it_only(
    pair: tuple[Replica, Replica, Shared, Clock],
) -> None:
    a, b, shared, _ = pair
    placing = asyncio.create_task(a.handlers.place_order(COMMAND))
    await shared.payment.called.wait()  # reserved, and the charge is on its way from a
    assert await b.handlers.recover() == 0  # a holds it: nothing for b to drive
    retry = asyncio.create_task(b.handlers.place_order(COMMAND))  # the client's retry, on b
    await asyncio.sleep(0.3)
    assert not retry.done()  # waiting for a's saga, not answering RESERVED nor driving it
    shared.payment.gate.set()
    (first, created), (again, replayed) = await placing, await retry
    assert (created, replayed) == (True, False) and first == again
    assert first.status == "CONFIRMED" and first.saga is SagaState.DONE
    assert shared.payment.calls == [f"charge:{first.id}:17998"]  # charged by a, once
    steps = [entry.step for entry in a.store.history(first.id)]
    assert steps == ["place", "reserve", "charge", "confirm"]


async def test_a_replica_whose_lease_lapsed_is_taken_over_and_saves_nothing(
    pair: tuple[Replica, Replica, Shared, Clock],
) -> None:
    """a stalls in the charge past its lease (its renewals are not due yet on this clock: as
    if its loop had been held); b takes the order over and finishes it; a's late answer is
    then refused by the store, and a's caller gets the order as b finished it."""
    a, b, shared, clock = pair
    placing = asyncio.create_task(a.handlers.place_order(COMMAND))
    await shared.payment.called.wait()
    clock.now += LEASE_S + 1
    assert await b.handlers.recover() == 1  # charged again: payment answers from its record
    order_id = shared.payment.calls[0].split(":")[1]
    finished = await b.handlers.get_order(order_id)
    assert finished.status == "CONFIRMED" and finished.saga is SagaState.DONE
    shared.payment.gate.set()
    answer, _ = await placing
    assert answer == finished
    assert shared.payment.charged() == [order_id] and shared.inventory.stock["KB-MECH"] == 8
    steps = [(e.step, e.outcome) for e in b.store.history(order_id)]
    assert steps == [("place", "accepted"), ("reserve", "ok"), ("charge", "ok"), ("confirm", "ok")]
    # Owed once, delivered once, by whichever replica's round claimed it first.
    rounds = await asyncio.gather(a.delivery.deliver_due(), b.delivery.deliver_due())
    assert list(rounds) == [Round.DONE, Round.DONE] and shared.notifier.sent == [
        (order_id, "CONFIRMED")
    ]


async def test_a_saga_waiting_longer_than_its_lease_keeps_its_claim_renewed(
    postgres_url: str,
) -> None:
    """Real time this once: a's charge takes three leases; a renews its claim meanwhile, so b
    never sees the order free, and a finishes it."""
    shared, lease_s = Shared(), 0.6
    a, b = (start(postgres_url, shared, Lease(name, lease_s)) for name in "ab")
    try:
        placing = asyncio.create_task(a.handlers.place_order(COMMAND))
        await shared.payment.called.wait()
        for _ in range(6):
            await asyncio.sleep(lease_s / 2)
            assert await b.handlers.recover() == 0
        shared.payment.gate.set()
        order, _ = await placing
        assert order.status == "CONFIRMED" and shared.payment.calls == [f"charge:{order.id}:17998"]
    finally:
        for replica in (a, b):
            await replica.handlers.stop(grace_s=0)
            replica.store.close()
