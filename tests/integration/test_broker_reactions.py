"""Each service's reactions to events over a real SQLite store, entered as the consumer enters them
(through the service's AMQP adapter): effect, inbox record and emitted events are one unit of
work, so a redelivery changes nothing; order catches up with events that arrive out of order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.inventory.api import amqp as inventory_amqp
from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore
from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import UseCase
from services.kernel.broker.events import CloudEvent, decode, new_event
from services.kernel.broker.wiring import broker_jobs
from services.kernel.config import Settings
from services.kernel.contracts import Line
from services.kernel.errors import Conflict, DomainError, InvalidRequest
from services.kernel.telemetry import Telemetry
from services.order import domain as order_domain
from services.order.api import amqp as order_amqp
from services.order.choreography import OrderChoreography
from services.order.domain import PlaceOrder
from services.order.store import OrderStore
from services.payment.api import amqp as payment_amqp
from services.payment.handlers import PaymentHandlers
from services.payment.store import PaymentStore


@pytest.fixture
def inventory(tmp_path: Path) -> Iterator[InventoryStore]:
    store = InventoryStore.open(tmp_path / "inventory.db")
    store.seed(SEED)
    yield store
    store.close()


@pytest.fixture
def orders(tmp_path: Path) -> Iterator[OrderStore]:
    store = OrderStore.open(tmp_path / "order.db")
    yield store
    store.close()


def inventory_reactions(store: InventoryStore) -> dict[str, UseCase]:
    return inventory_amqp.routes(InventoryHandlers(store), store.messages)


def payment_reactions(store: PaymentStore) -> dict[str, UseCase]:
    return payment_amqp.routes(PaymentHandlers(store), store.messages)


def order_reactions(store: OrderStore, **options: Any) -> dict[str, UseCase]:
    return order_amqp.routes(OrderChoreography(store, **options), store.messages)


async def react(reactions: dict[str, UseCase], event: CloudEvent) -> None:
    await reactions[event.type](event)


def emitted(store: Any) -> list[CloudEvent]:
    return [decode(row.body) for row in store.messages.unpublished()]


def event(type_: str, data: dict[str, Any], correlation_id: str = "corr-1") -> CloudEvent:
    return new_event(type_, "orderflow/test", data, correlation_id)


def placed(order_id: str, sku: str = "KB-MECH", quantity: int = 2) -> CloudEvent:
    items = [{"sku": sku, "quantity": quantity}]
    data = {"order_id": order_id, "customer_id": "ada", "items": items, "payment_token": "tok_visa"}
    return event(ev.ORDER_PLACED, data)


async def test_inventory_reserves_once_however_often_the_event_arrives(
    inventory: InventoryStore,
) -> None:
    reactions = inventory_reactions(inventory)
    before = inventory.products(["KB-MECH"])["KB-MECH"].available
    order_placed = placed("o-1")
    for _ in range(3):
        await react(reactions, order_placed)
    assert inventory.products(["KB-MECH"])["KB-MECH"].available == before - 2
    [reserved] = emitted(inventory)
    assert (reserved.type, reserved.correlationid, reserved.subject) == (
        ev.INVENTORY_RESERVED,
        "corr-1",
        "o-1",
    )
    assert reserved.data["total_cents"] == 2 * 8999 and reserved.data["payment_token"] == "tok_visa"


@pytest.mark.parametrize(
    ("sku", "reason"), [("MUG-RETIRED", "OUT_OF_STOCK"), ("NOPE", "UNKNOWN_SKU")]
)
async def test_inventory_answers_a_refusal_with_an_event(
    inventory: InventoryStore, sku: str, reason: str
) -> None:
    await react(inventory_reactions(inventory), placed("o-2", sku, 1))
    [rejected] = emitted(inventory)
    assert rejected.type == ev.INVENTORY_REJECTED and rejected.data["reason"] == reason


async def test_a_failed_reaction_writes_nothing_at_all(inventory: InventoryStore) -> None:
    """An invalid order id fails inside the transaction: no reservation, no inbox record (so a
    retry is not mistaken for a duplicate), no event."""
    bad = placed(" spaced ")
    with pytest.raises(InvalidRequest):
        await react(inventory_reactions(inventory), bad)
    assert not inventory.messages.seen(bad.id)
    assert emitted(inventory) == []


async def test_payment_charges_once_and_says_how_it_went(tmp_path: Path) -> None:
    store = PaymentStore.open(tmp_path / "payment.db")
    reactions = payment_reactions(store)
    data = {
        "order_id": "o-3",
        "customer_id": "ada",
        "payment_token": "tok_chargeDeclined",
        "items": [{"sku": "KB-MECH", "quantity": 1, "unit_price_cents": 8999}],
        "total_cents": 8999,
    }
    reserved = event(ev.INVENTORY_RESERVED, data)
    await react(reactions, reserved)
    await react(reactions, reserved)
    assert store.summary()["DECLINED"] == 1
    [declined] = emitted(store)
    assert declined.type == ev.PAYMENT_DECLINED and declined.data["amount_cents"] == 8999
    store.close()


def place_command(**overrides: Any) -> CloudEvent:
    data = {
        "customer_id": "ada",
        "items": [{"sku": "KB-MECH", "quantity": 1}],
        "payment_token": "tok_visa",
        "idempotency_key": "k-1",
        **overrides,
    }
    return event(ev.ORDER_PLACE, data)


PRICED = [{"sku": "KB-MECH", "quantity": 1, "unit_price_cents": 8999}]


async def test_order_confirms_even_when_the_charge_overtakes_the_reservation(
    orders: OrderStore,
) -> None:
    reactions = order_reactions(orders, new_id=lambda: "o-4")
    await react(reactions, place_command())
    [order_placed] = emitted(orders)
    assert order_placed.type == ev.ORDER_PLACED and order_placed.subject == "o-4"
    charged = event(ev.PAYMENT_CHARGED, {"order_id": "o-4", "amount_cents": 8999, "items": PRICED})
    await react(reactions, charged)
    late = {
        "order_id": "o-4",
        "customer_id": "ada",
        "payment_token": "tok_visa",
        "items": PRICED,
        "total_cents": 8999,
    }
    await react(reactions, event(ev.INVENTORY_RESERVED, late))  # stale now
    order = orders.get("o-4")
    assert order is not None and (order.status, order.total_cents) == ("CONFIRMED", 8999)
    kinds = [e.type for e in emitted(orders)]
    assert kinds == [ev.ORDER_PLACED, ev.ORDER_CONFIRMED]


async def test_a_retried_command_gets_the_same_terminal_event_and_no_second_order(
    orders: OrderStore,
) -> None:
    ids = iter(["o-5", "o-6"])
    reactions = order_reactions(orders, new_id=lambda: next(ids))
    await react(reactions, place_command())
    rejected = {"order_id": "o-5", "reason": "OUT_OF_STOCK", "detail": "none left"}
    await react(reactions, event(ev.INVENTORY_REJECTED, rejected))
    await react(reactions, place_command())  # same key, a new delivery: a client retry
    finished = [e for e in emitted(orders) if e.type == ev.ORDER_REJECTED]
    assert len(finished) == 2 and finished[0].id == finished[1].id
    assert [o.id for o in orders.for_customer("ada", 10)] == ["o-5"]
    assert orders.unfinished() == []  # recovery never drives a broker-style order


async def test_an_invalid_command_is_refused_before_anything_is_written(orders: OrderStore) -> None:
    with pytest.raises(InvalidRequest, match="payment_token"):
        await react(order_reactions(orders), place_command(payment_token="tok_stolen"))
    assert orders.for_customer("ada", 10) == [] and emitted(orders) == []


def test_the_outbox_backlog_is_exported_while_no_broker_takes_it(tmp_path: Path) -> None:
    store = InventoryStore.open(tmp_path / "inventory.db")
    telemetry = Telemetry("inventory")
    settings = Settings.from_env({"ORDERFLOW_BROKER_URL": "amqp://guest:guest@127.0.0.1:1/%2F"})
    broker_jobs("inventory", settings, telemetry, store.messages, {})
    with store.transaction():
        store.messages.emit(placed("o-9"))
        store.messages.emit(placed("o-10"))
    assert telemetry.registry.get_sample_value("orderflow_outbox_backlog") == 2
    store.close()


async def test_a_retry_while_the_order_is_in_flight_is_answered_when_it_finishes(
    orders: OrderStore,
) -> None:
    reactions = order_reactions(orders, new_id=lambda: "o-11")
    first = place_command()
    await react(reactions, first)
    retry = place_command()  # same key, another client (correlation id) gave up waiting
    retry = retry.model_copy(update={"correlationid": "corr-retry"})
    await react(reactions, retry)
    charged = event(ev.PAYMENT_CHARGED, {"order_id": "o-11", "amount_cents": 8999, "items": PRICED})
    await react(reactions, charged)
    answers = [e for e in emitted(orders) if e.type == ev.ORDER_CONFIRMED]
    assert sorted(a.correlationid for a in answers) == ["corr-1", "corr-retry"]
    assert len({a.id for a in answers}) == 1  # one event: notification records it once


# Defence in depth: events about orders that the order service never placed, or that contradict
# an order's outcome, are compensated (order.voided), never applied and never simply dropped.


def reserved_for(order_id: str, token: str = "tok_visa") -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "mallory",
        "payment_token": token,
        "items": PRICED,
        "total_cents": 8999,
    }


def charged_for(order_id: str) -> CloudEvent:
    return event(ev.PAYMENT_CHARGED, {"order_id": order_id, "amount_cents": 8999, "items": PRICED})


def voided(order_id: str) -> CloudEvent:
    data = {"order_id": order_id, "reason": "UNKNOWN_ORDER", "detail": "caused by a test"}
    return event(ev.ORDER_VOIDED, data)


async def test_order_voids_what_is_held_for_an_order_it_never_placed(orders: OrderStore) -> None:
    reactions = order_reactions(orders)
    await react(reactions, event(ev.INVENTORY_RESERVED, reserved_for("forged")))
    await react(reactions, charged_for("forged"))
    answers = emitted(orders)
    assert [e.type for e in answers] == [ev.ORDER_VOIDED, ev.ORDER_VOIDED]
    assert answers[0].id == answers[1].id  # one event: inventory and payment give back once
    assert answers[0].data == {
        "order_id": "forged",
        "reason": "UNKNOWN_ORDER",
        "detail": f"caused by {ev.INVENTORY_RESERVED}",
    }
    assert orders.get("forged") is None  # nothing is invented for it


async def test_order_voids_a_charge_its_outcome_rules_out_and_keeps_the_outcome(
    orders: OrderStore,
) -> None:
    ids = iter(["o-rej", "o-can", "o-ok"])
    reactions = order_reactions(orders, new_id=lambda: next(ids))
    for key in ("k-rej", "k-can", "k-ok"):
        await react(reactions, place_command(idempotency_key=key))
    rejected = {"order_id": "o-rej", "reason": "OUT_OF_STOCK", "detail": "none left"}
    await react(reactions, event(ev.INVENTORY_REJECTED, rejected))
    released = {"order_id": "o-can", "reason": "PAYMENT_DECLINED", "items": PRICED}
    await react(reactions, event(ev.INVENTORY_RELEASED, released))
    await react(reactions, charged_for("o-ok"))
    before = len(emitted(orders))
    await react(reactions, event(ev.INVENTORY_RESERVED, reserved_for("o-rej")))
    await react(reactions, charged_for("o-can"))
    await react(reactions, event(ev.INVENTORY_RESERVED, reserved_for("o-can")))
    await react(reactions, charged_for("o-ok"))  # a duplicate: consistent
    voids = [(e.data["order_id"], e.data["reason"]) for e in emitted(orders)[before:]]
    # A stale inventory.reserved of a cancelled order is consistent (its stock came back).
    assert voids == [("o-rej", "ORDER_REJECTED"), ("o-can", "ORDER_CANCELLED")]
    statuses = [getattr(orders.get(o), "status", None) for o in ("o-rej", "o-can", "o-ok")]
    assert statuses == ["REJECTED", "CANCELLED", "CONFIRMED"]


async def test_order_refuses_events_about_an_order_of_another_style(orders: OrderStore) -> None:
    command = PlaceOrder("ada", (Line("KB-MECH", 1),), "tok_visa", style="rest")
    with orders.transaction():
        orders.add(order_domain.new_order("o-rest", command, "2026-01-01T00:00:00Z"))
    with pytest.raises(Conflict, match="rest style"):
        await react(order_reactions(orders), charged_for("o-rest"))
    stored = orders.get("o-rest")
    assert stored is not None and stored.status == "PENDING" and emitted(orders) == []


async def test_inventory_gives_back_a_voided_order_once_and_refuses_it_later(
    inventory: InventoryStore,
) -> None:
    reactions = inventory_reactions(inventory)
    before = inventory.products(["KB-MECH"])["KB-MECH"].available
    await react(reactions, placed("forged", quantity=3))
    assert inventory.products(["KB-MECH"])["KB-MECH"].available == before - 3
    void = voided("forged")
    await react(reactions, void)
    await react(reactions, void)
    assert inventory.products(["KB-MECH"])["KB-MECH"].available == before
    await react(reactions, voided("never-reserved"))
    with pytest.raises(DomainError, match="already released"):
        await react(reactions, placed("never-reserved"))  # late: nothing is taken
    assert inventory.products(["KB-MECH"])["KB-MECH"].available == before
    assert [e.type for e in emitted(inventory)] == [ev.INVENTORY_RESERVED]  # voids say nothing


async def test_payment_refunds_a_voided_charge_and_refuses_a_charge_after_the_void(
    tmp_path: Path,
) -> None:
    store = PaymentStore.open(tmp_path / "payment.db")
    reactions = payment_reactions(store)
    await react(reactions, event(ev.INVENTORY_RESERVED, reserved_for("forged")))
    await react(reactions, voided("forged"))
    await react(reactions, voided("early"))
    with pytest.raises(DomainError, match="voided"):
        await react(reactions, event(ev.INVENTORY_RESERVED, reserved_for("early")))
    assert [(o, s) for o, s, _ in store.audited()] == [("early", "VOIDED"), ("forged", "REFUNDED")]
    assert [e.type for e in emitted(store)] == [ev.PAYMENT_CHARGED]
    store.close()
