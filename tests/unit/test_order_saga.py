"""The order saga and use cases, with fakes of the downstream ports and a real SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable
from services.kernel.lease import Lease
from services.kernel.telemetry import Telemetry
from services.order import domain
from services.order.domain import (
    Compensation,
    IdempotencyMismatch,
    Order,
    OrderLine,
    PlaceOrder,
    Reason,
    SagaState,
    UnknownSku,
)
from services.order.downstream.interfaces import ChargeResult, ChargeStatus, Downstream
from services.order.handlers import RECOVERY_CONCURRENCY, OrderHandlers
from services.order.notifications import BATCH, NotificationDelivery, Round
from services.order.saga import Saga
from services.order.saga import log as saga_log
from services.order.store import OrderStore
from tests.unit.fakes import FakeInventory, FakeNotifier, FakePayment, Outage

PRICES = {"KB-MECH": 8999, "POSTER-LTD": 4999, "MUG-RETIRED": 1299}


class World:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.inventory = FakeInventory(
            stock={"KB-MECH": 100, "POSTER-LTD": 10, "MUG-RETIRED": 0}, prices=dict(PRICES)
        )
        self.payment = FakePayment()
        self.notifier = FakeNotifier()
        self.ids: Iterator[str] = (f"o{n}" for n in itertools.count(1))
        self.store, self.saga, self.handlers = self.boot()

    def boot(self) -> tuple[OrderStore, Saga, OrderHandlers]:
        """A fresh process over the same database and the same (remote) services."""
        store = OrderStore.open(self.path)
        downstream = Downstream(self.inventory, self.payment, self.notifier)
        telemetry = Telemetry("order")
        self.delivery = NotificationDelivery(store, downstream, telemetry, first_backoff_s=0.01)
        saga = Saga(store, downstream, telemetry, on_owed=self.delivery.owed)
        return store, saga, OrderHandlers(store, saga, new_id=lambda: next(self.ids))

    def restart(self) -> None:
        self.store.close()
        self.store, self.saga, self.handlers = self.boot()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "order.db")
    yield made
    made.store.close()


def place(
    token: str = "tok_visa", key: str | None = None, lines: dict[str, int] | None = None
) -> PlaceOrder:
    wanted = lines or {"KB-MECH": 2}
    return PlaceOrder("c1", tuple(Line(s, q) for s, q in wanted.items()), token, key)


async def crash_after_charging(world: World, order_id: str, key: str | None = None) -> Order:
    """What a process leaves that reserved, sent the charge (payment took it), then died."""
    order = domain.new_order(order_id, place(key=key), "t0")
    with world.store.transaction():
        world.store.add(order)
    priced = await world.inventory.reserve(order.id, (Line("KB-MECH", 2),))
    with world.store.transaction():
        world.store.update(domain.reserved(order, priced, "t1"))
    await world.payment.charge(order.id, "c1", 2 * PRICES["KB-MECH"], "tok_visa")
    return order


async def test_confirmed_order_is_priced_by_inventory_charged_once_and_notified(
    world: World,
) -> None:
    order, created = await world.handlers.place_order(place())
    assert world.store.notifications_due(10) == [(order.id, order.id)]  # owed once finished
    assert await world.delivery.deliver_due() is Round.DONE
    assert created and order.status.value == "CONFIRMED" and order.saga is SagaState.DONE
    assert order.total_cents == 2 * PRICES["KB-MECH"]
    assert world.inventory.stock["KB-MECH"] == 98
    assert world.payment.charged() == [order.id]
    assert world.notifier.sent == [(order.id, "CONFIRMED")]
    steps = [(e.step, e.outcome) for e in world.store.history(order.id)]
    assert steps == [("place", "accepted"), ("reserve", "ok"), ("charge", "ok"), ("confirm", "ok")]


def count_commits(store: OrderStore) -> list[int]:
    """Counts the store's transactions from now on (the counter is the list's one element)."""
    commits, transaction = [0], store.transaction

    @contextlib.contextmanager
    def counted() -> Iterator[None]:
        with transaction():
            yield
        commits[0] += 1

    store.transaction = counted  # type: ignore[method-assign]
    return commits


async def test_charge_and_confirmation_are_one_commit_and_every_status_is_still_seen(
    world: World,
) -> None:
    """Confirming calls nobody, so it is saved with the charge: 3 commits (place, reserve,
    charge + confirm), and watchers, the numbered changes and the log still show PAID."""
    commits = count_commits(world.store)
    seen: list[str] = []

    async def watch(order: Order) -> None:
        async for update in world.handlers.watch_order(order.id):
            seen.append(update.status.value)

    watchers: list[asyncio.Task[None]] = []
    order, _ = await world.handlers.place_order(
        place(), on_accepted=lambda o: watchers.append(asyncio.create_task(watch(o)))
    )
    await asyncio.wait_for(asyncio.gather(*watchers), 5)
    assert commits == [3]
    assert seen == ["PENDING", "RESERVED", "PAID", "CONFIRMED"]
    changes = [(c.seq, c.status.value) for c in world.store.status_changes(order.id)]
    assert changes == [(1, "PENDING"), (2, "RESERVED"), (3, "PAID"), (4, "CONFIRMED")]


async def test_an_order_saved_paid_by_an_older_release_is_confirmed_on_recovery(
    world: World,
) -> None:
    """Releases before one commit saved PAID alone: a file they left PAID still finishes."""
    order = await crash_after_charging(world, "o-paid")
    with world.store.transaction():
        world.store.update(domain.paid(world.store.get(order.id) or order, "t2"))
    world.restart()
    assert await world.handlers.recover() == 1
    recovered = await world.handlers.get_order(order.id)
    assert (recovered.status.value, recovered.saga) == ("CONFIRMED", SagaState.DONE)
    assert world.payment.charged() == [order.id] and world.store.notifications_owed() == 1


async def test_declined_payment_cancels_and_gives_the_stock_back(world: World) -> None:
    order, _ = await world.handlers.place_order(place("tok_chargeDeclined"))
    assert (order.status.value, order.reason) == ("CANCELLED", Reason.PAYMENT_DECLINED)
    assert order.saga is SagaState.DONE
    assert world.inventory.stock["KB-MECH"] == 100
    assert world.payment.charged() == []
    assert "refund:o1" not in world.payment.calls  # nothing was taken, nothing to refund


async def test_out_of_stock_is_rejected_without_touching_payment(world: World) -> None:
    order, _ = await world.handlers.place_order(place(lines={"MUG-RETIRED": 1}))
    assert (order.status.value, order.reason) == ("REJECTED", Reason.OUT_OF_STOCK)
    assert world.payment.calls == []


async def test_unknown_sku_is_rejected_and_nothing_is_reserved(world: World) -> None:
    with pytest.raises(UnknownSku) as refused:  # bad input in every style, with the order
        await world.handlers.place_order(place(lines={"NOPE": 1, "KB-MECH": 1}))
    order = refused.value.order
    assert (order.status.value, order.reason) == ("REJECTED", Reason.UNKNOWN_SKU)
    assert world.store.get(order.id) == order  # recorded all the same
    assert world.inventory.stock["KB-MECH"] == 100 and world.payment.calls == []


async def test_same_key_returns_same_order_and_charges_once(world: World) -> None:
    first, created = await world.handlers.place_order(place(key="k"))
    again, created_again = await world.handlers.place_order(place(key="k"))
    assert created and not created_again
    assert again == first
    assert [c for c in world.payment.calls if c.startswith("charge")] == [
        f"charge:{first.id}:17998"
    ]


async def test_concurrent_retries_join_one_saga(world: World) -> None:
    results = await asyncio.gather(*(world.handlers.place_order(place(key="k")) for _ in range(5)))
    assert len({order.id for order, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len([c for c in world.payment.calls if c.startswith("charge")]) == 1


async def test_same_key_with_a_different_body_is_refused(world: World) -> None:
    await world.handlers.place_order(place(key="k"))
    with pytest.raises(IdempotencyMismatch):
        await world.handlers.place_order(place(key="k", lines={"KB-MECH": 3}))
    assert world.inventory.stock["KB-MECH"] == 98


async def test_lost_charge_answer_cancels_refunds_and_releases(world: World) -> None:
    world.payment.lose_answer_once = True
    order, _ = await world.handlers.place_order(place())
    assert (order.status.value, order.reason) == ("CANCELLED", Reason.PAYMENT_FAILED)
    assert order.saga is SagaState.DONE
    assert world.payment.charges[order.id] is ChargeStatus.REFUNDED
    assert world.inventory.stock["KB-MECH"] == 100


async def test_unreachable_inventory_rejects_and_releases_in_case_it_reserved(
    world: World,
) -> None:
    world.inventory.lose_answer_once = True
    order, _ = await world.handlers.place_order(place())
    assert (order.status.value, order.reason) == ("REJECTED", Reason.INVENTORY_UNAVAILABLE)
    assert world.inventory.stock["KB-MECH"] == 100 and world.payment.calls == []


async def test_a_charge_refused_before_it_left_is_not_refunded(world: World) -> None:
    """The payment breaker was open: no charge exists, so the saga only gives the stock back
    instead of leaving a refund that must wait for payment to come back."""
    world.payment.outage = Outage(calls=1, never_sent=True)
    order, _ = await world.handlers.place_order(place())
    assert (order.status.value, order.reason) == ("CANCELLED", Reason.PAYMENT_FAILED)
    assert order.saga is SagaState.DONE and world.inventory.stock["KB-MECH"] == 100
    assert f"refund:{order.id}" not in world.payment.calls
    steps = [(e.step, e.outcome) for e in world.store.history(order.id)]
    assert steps == [
        ("place", "accepted"),
        ("reserve", "ok"),
        ("charge", "not_sent"),
        ("release", "ok"),
    ]


def saga_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == saga_log.name and r.levelno == level
    ]


async def test_a_happy_order_logs_one_info_line_at_its_end(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Per-step lines cost CPU on every order: they are DEBUG, the order's end is INFO."""
    with caplog.at_level(logging.DEBUG):
        order, _ = await world.handlers.place_order(place())
    assert saga_lines(caplog, logging.INFO) == [f"order {order.id}: confirm ok -> CONFIRMED"]
    assert saga_lines(caplog, logging.DEBUG) == [
        f"order {order.id}: reserve ok -> RESERVED",
        f"order {order.id}: charge ok -> PAID",
    ]


async def test_exceptional_steps_stay_at_info(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """What the workshop greps for (`not_sent`) and every compensation are still shown."""
    world.payment.outage = Outage(calls=1, never_sent=True)
    with caplog.at_level(logging.INFO):
        order, _ = await world.handlers.place_order(place())
    assert saga_lines(caplog, logging.INFO) == [
        f"order {order.id}: charge not_sent -> CANCELLED",
        f"order {order.id}: release ok -> CANCELLED",
    ]


async def test_a_reservation_refused_before_it_left_is_not_released(world: World) -> None:
    world.inventory.outage = Outage(calls=1, never_sent=True)
    order, _ = await world.handlers.place_order(place())
    assert (order.status.value, order.reason) == ("REJECTED", Reason.INVENTORY_UNAVAILABLE)
    assert order.saga is SagaState.DONE
    assert world.inventory.calls == [f"reserve:{order.id}"] and world.payment.calls == []


async def test_after_a_restart_a_refused_charge_is_still_refunded(world: World) -> None:
    """The previous process may have sent the charge before it died: a refusal now says nothing
    of that one, so the money is given back."""
    await crash_after_charging(world, "o-crash")

    world.restart()
    world.payment.outage = Outage(calls=1, never_sent=True)
    assert await world.handlers.recover() == 1
    recovered = await world.handlers.get_order("o-crash")
    assert (recovered.status.value, recovered.saga) == ("CANCELLED", SagaState.DONE)
    assert world.payment.charges["o-crash"] is ChargeStatus.REFUNDED
    assert world.inventory.stock["KB-MECH"] == 100


async def test_compensation_waits_for_inventory_then_recovery_finishes_it(world: World) -> None:
    world.payment.lose_answer_once = True
    world.inventory.release_outage.calls = 3  # down for the saga and two recovery passes
    order, _ = await world.handlers.place_order(place())
    assert order.status.value == "CANCELLED" and order.saga is SagaState.COMPENSATING
    assert order.compensation == Compensation(release_stock=True)  # the refund is done
    assert world.inventory.stock["KB-MECH"] == 98  # held until inventory answers again
    assert await world.handlers.recover() == 1
    assert await world.handlers.recover() == 1
    assert (await world.handlers.get_order(order.id)).saga is SagaState.COMPENSATING
    assert await world.handlers.recover() == 1
    after = await world.handlers.get_order(order.id)
    assert after.saga is SagaState.DONE and world.inventory.stock["KB-MECH"] == 100
    assert ("compensate", "postponed") in [
        (e.step, e.outcome) for e in world.store.history(order.id)
    ]


async def test_restart_with_a_reserved_order_charges_once_and_confirms(world: World) -> None:
    await crash_after_charging(world, "o-crash")

    world.restart()
    assert await world.handlers.recover() == 1
    recovered = await world.handlers.get_order("o-crash")
    assert recovered.status.value == "CONFIRMED" and recovered.saga is SagaState.DONE
    assert world.payment.charged() == ["o-crash"] and world.inventory.stock["KB-MECH"] == 98
    assert await world.handlers.recover() == 0


async def test_restart_with_a_pending_order_does_not_reserve_twice(world: World) -> None:
    order = domain.new_order("o-pending", place(), "t0")
    with world.store.transaction():
        world.store.add(order)
    await world.inventory.reserve(order.id, (Line("KB-MECH", 2),))  # answer lost in the crash
    world.restart()
    await world.handlers.recover()
    assert (await world.handlers.get_order("o-pending")).status.value == "CONFIRMED"
    assert world.inventory.stock["KB-MECH"] == 98


async def test_notification_down_never_fails_the_order_and_is_told_once_it_is_back(
    world: World,
) -> None:
    world.notifier.broken = True
    order, _ = await world.handlers.place_order(place())
    assert order.status.value == "CONFIRMED"
    assert await world.delivery.deliver_due() is Round.FAILED
    assert world.store.notifications_owed() == 1  # still owed
    world.notifier.broken = False
    assert await world.delivery.deliver_due() is Round.DONE
    assert world.notifier.sent == [(order.id, "CONFIRMED")]
    assert world.store.notifications_owed() == 0
    assert await world.delivery.deliver_due() is Round.DONE and len(world.notifier.sent) == 1


async def test_an_order_finished_just_before_a_crash_is_told_after_the_restart(
    world: World,
) -> None:
    """The owed notification is written with the final status: a process that dies before
    delivering it leaves it for the next one (before, recovery skipped finished orders)."""
    order, _ = await world.handlers.place_order(place("tok_chargeDeclined"))
    world.restart()  # nothing was delivered: no delivery ran in the first process
    assert await world.delivery.deliver_due() is Round.DONE
    assert world.notifier.sent == [(order.id, "CANCELLED")]


async def test_every_final_outcome_is_owed_exactly_once(world: World) -> None:
    placed = [
        await world.handlers.place_order(place(token))
        for token in ("tok_visa", "tok_chargeDeclined")
    ]
    await world.handlers.place_order(place(lines={"MUG-RETIRED": 1}))
    await world.handlers.place_order(place(key="k"))
    await world.handlers.place_order(place(key="k"))  # a retry owes nothing more
    assert len(world.store.notifications_due(10)) == 4
    assert await world.delivery.deliver_due() is Round.DONE
    statuses = sorted(status for _, status in world.notifier.sent)
    assert statuses == ["CANCELLED", "CONFIRMED", "CONFIRMED", "REJECTED"]
    assert all((o.id, o.status.value) in world.notifier.sent for o, _ in placed)


async def test_a_notification_refused_for_good_is_not_retried_forever(world: World) -> None:
    world.notifier.refusing = True
    await world.handlers.place_order(place())
    assert await world.delivery.deliver_due() is Round.DONE
    assert world.store.notifications_owed() == 0 and world.notifier.attempts == 1


async def test_the_delivery_loop_backs_off_then_drains_the_backlog(world: World) -> None:
    world.notifier.broken = True
    orders = [(await world.handlers.place_order(place()))[0] for _ in range(40)]
    loop = asyncio.create_task(world.delivery.run())
    try:
        await until(lambda: world.notifier.attempts >= 3 * BATCH)  # retried a batch at a time
        world.notifier.broken = False
        await until(lambda: world.store.notifications_owed() == 0)
    finally:
        loop.cancel()
    assert sorted(world.notifier.sent) == sorted((o.id, "CONFIRMED") for o in orders)


@dataclass
class PickyNotifier(FakeNotifier):
    """Acknowledges every order but one, for which it is unreachable."""

    unreachable_for: str = ""

    async def notify(self, order: Order) -> None:
        if order.id == self.unreachable_for:
            raise DownstreamUnavailable("notification", "notify", "fake outage")
        await super().notify(order)


async def test_a_round_strikes_off_its_acknowledgements_in_one_commit(world: World) -> None:
    """One commit per round, not per acknowledgement; what was not acknowledged stays owed."""
    world.notifier = picky = PickyNotifier()
    world.restart()
    orders = [(await world.handlers.place_order(place()))[0] for _ in range(5)]
    picky.unreachable_for = orders[2].id
    commits = count_commits(world.store)
    assert await world.delivery.deliver_due() is Round.FAILED
    assert commits == [1]
    assert [owed for owed, _ in world.store.notifications_due(10)] == [orders[2].id]
    acknowledged = sorted((o.id, "CONFIRMED") for o in orders if o is not orders[2])
    assert sorted(picky.sent) == acknowledged


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true in time")


async def test_a_retry_after_a_restart_drives_the_saga_to_its_end(world: World) -> None:
    """The first call's process died with the order RESERVED (and charged): the client's retry
    is answered CONFIRMED, as the first call would have been, not RESERVED."""
    order = await crash_after_charging(world, "o-retried", key="k")
    world.restart()
    answer, created = await world.handlers.place_order(place(key="k"))
    assert (answer.id, answer.status.value, created) == (order.id, "CONFIRMED", False)
    assert [c for c in world.payment.calls if c.startswith("charge")] == [
        f"charge:{order.id}:17998"
    ] * 2  # the crashed process's charge, and the retry's (answered from payment's record)


async def test_retries_and_recovery_run_one_saga_at_a_time(world: World) -> None:
    order = await crash_after_charging(world, "o-raced", key="k")
    world.restart()
    charges = len(world.payment.calls)
    answers = await asyncio.gather(
        world.handlers.recover(), *(world.handlers.place_order(place(key="k")) for _ in range(3))
    )
    assert {a[0].status.value for a in answers[1:]} == {"CONFIRMED"}  # type: ignore[index]
    assert len(world.payment.calls) == charges + 1  # one saga charged, once
    confirms = [e for e in world.store.history(order.id) if e.step == "confirm"]
    assert len(confirms) == 1 and world.store.notifications_owed() == 1


async def test_lines_keep_the_price_inventory_reserved_at(world: World) -> None:
    world.inventory.prices["KB-MECH"] = 100
    order, _ = await world.handlers.place_order(place(lines={"KB-MECH": 3}))
    assert order.lines == (OrderLine("KB-MECH", 3, 100),)
    assert order.total_cents == 300


@dataclass
class HeldPayment(FakePayment):
    """A payment service that takes the call and does not answer until released."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult:
        self.called.set()
        await self.gate.wait()
        return await super().charge(order_id, customer_id, amount_cents, token)


async def test_shutdown_leaves_a_saga_where_it_stands_for_the_next_start(world: World) -> None:
    """Stopping the process must not compensate a call it cut short itself: the order stays
    RESERVED (as after a crash), and the next start's recovery confirms it."""
    held = HeldPayment()
    world.payment = held
    world.restart()
    placing = asyncio.create_task(world.handlers.place_order(place()))
    await held.called.wait()  # reserved, and the charge is on its way
    await world.handlers.stop(grace_s=0.05)
    with pytest.raises(asyncio.CancelledError):
        await placing
    order = world.store.unfinished()[0]
    assert (order.status, world.payment.calls) == ("RESERVED", [])
    assert [e.step for e in world.store.history(order.id)] == ["place", "reserve"]
    held.gate.set()
    world.restart()
    assert await world.handlers.recover() == 1
    recovered = world.store.get(order.id)
    assert recovered is not None and recovered.status == "CONFIRMED"


async def test_recovery_drives_a_few_sagas_at_a_time_and_finishes_them_all(world: World) -> None:
    # 30 orders left reserved by a crash: recovery must not call payment 30 times at once.
    for n in range(30):
        order = domain.new_order(f"o-left-{n}", place(), "t0")
        with world.store.transaction():
            world.store.add(order)
        priced = await world.inventory.reserve(order.id, (Line("KB-MECH", 1),))
        with world.store.transaction():
            world.store.update(domain.reserved(order, priced, "t1"))
    charge, running, most = world.payment.charge, 0, 0

    async def counted(*args: object, **kwargs: object) -> ChargeResult:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.01)
            return await charge(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            running -= 1

    world.restart()
    world.payment.charge = counted  # type: ignore[method-assign]
    assert await world.handlers.recover() == 30
    assert most == RECOVERY_CONCURRENCY
    assert len(world.payment.charged()) == 30 and await world.handlers.recover() == 0


async def test_a_retry_never_drives_a_broker_style_order(world: World) -> None:
    """A broker-style order is moved by its events (choreography.py): a retry of its key in an
    orchestrated style answers it as it stands, and calls nobody."""
    command = place(key="k")
    order = domain.new_order("o-broker", dataclasses.replace(command, style="broker"), "t0")
    with world.store.transaction():
        world.store.add(order)
    answer, created = await world.handlers.place_order(command)
    assert (answer.id, answer.status.value, created) == ("o-broker", "PENDING", False)
    assert world.inventory.calls == [] and world.payment.calls == []


async def test_the_delivery_loop_outlives_an_unexpected_error(world: World) -> None:
    calls = 0
    real = world.store.claim_notifications

    def flaky(limit: int, lease: Lease) -> list[tuple[str, str]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database is locked")
        return real(limit, lease)

    world.store.claim_notifications = flaky  # type: ignore[method-assign]
    order, _ = await world.handlers.place_order(place())
    loop = asyncio.create_task(world.delivery.run())
    try:
        await until(lambda: world.notifier.sent == [(order.id, "CONFIRMED")])
    finally:
        loop.cancel()


async def test_a_restart_resumes_at_once_what_the_dead_process_had_claimed(world: World) -> None:
    """The order was recorded claimed by a process of this host that is gone (a crash): the
    next start voids its claims rather than waiting for their lease, and recovers the order."""
    ended = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await ended.wait()
    order = domain.new_order("o-claimed", place(), "t0")
    with world.store.transaction():
        world.store.add(order, Lease(f"{socket.gethostname()}:{ended.pid}"))
    world.restart()
    assert await world.handlers.recover() == 0  # claimed, and its lease runs on
    assert world.handlers.release_claims() == 1
    assert await world.handlers.recover() == 1
    assert (await world.handlers.get_order(order.id)).status.value == "CONFIRMED"
