"""Every service's reactions to events as use cases: typed events in, typed events out,
through a fake unit of work (no broker, no CloudEvent). The stores are the real ones, as in the
saga's unit tests; the adapters and the SQLite unit of work are tested in integration and in
test_broker_unit_of_work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore
from services.kernel.broker import catalogue as ev
from services.kernel.broker.unit_of_work import derived_id
from services.kernel.errors import DomainError, InvalidRequest
from services.notification.handlers import NotificationHandlers
from services.notification.store import NotificationStore
from services.order.choreography import OrderChoreography
from services.order.store import OrderStore
from services.payment.domain import PaymentStatus
from services.payment.handlers import PaymentHandlers
from services.payment.store import PaymentStore
from tests.unit.fake_unit_of_work import FakeMessages

PRICED = [ev.PricedItem(sku="KB-MECH", quantity=2, unit_price_cents=8999)]


@pytest.fixture
def inventory(tmp_path: Path) -> Iterator[InventoryStore]:
    store = InventoryStore.open(tmp_path / "inventory.db")
    store.seed(SEED)
    yield store
    store.close()


@pytest.fixture
def payments(tmp_path: Path) -> Iterator[PaymentStore]:
    store = PaymentStore.open(tmp_path / "payment.db")
    yield store
    store.close()


def placed(order_id: str, sku: str = "KB-MECH", quantity: int = 2) -> ev.OrderPlaced:
    return ev.OrderPlaced(
        order_id=order_id,
        customer_id="ada",
        items=[ev.Item(sku=sku, quantity=quantity)],
        payment_token="tok_visa",
    )


def reserved(order_id: str, token: str = "tok_visa") -> ev.InventoryReserved:
    return ev.InventoryReserved(
        order_id=order_id,
        customer_id="ada",
        payment_token=token,
        items=PRICED,
        total_cents=2 * 8999,
    )


def voided(order_id: str) -> ev.OrderVoided:
    return ev.OrderVoided(order_id=order_id, reason="UNKNOWN_ORDER", detail="a test")


def available(store: InventoryStore) -> int:
    return store.products(["KB-MECH"])["KB-MECH"].available


async def test_a_placed_order_is_reserved_and_answered_with_the_priced_items(
    inventory: InventoryStore,
) -> None:
    messages = FakeMessages()
    before = available(inventory)
    await InventoryHandlers(inventory).on_order_placed(placed("o-1"), messages.unit())
    assert available(inventory) == before - 2
    [answer] = messages.emitted
    assert answer.type == ev.INVENTORY_RESERVED and answer.correlation_id is None  # the saga's
    assert answer.data == reserved("o-1")


@pytest.mark.parametrize(
    ("sku", "reason"), [("MUG-RETIRED", "OUT_OF_STOCK"), ("NOPE", "UNKNOWN_SKU")]
)
async def test_a_refused_reservation_is_answered_with_its_reason(
    inventory: InventoryStore, sku: str, reason: str
) -> None:
    messages = FakeMessages()
    await InventoryHandlers(inventory).on_order_placed(placed("o-2", sku, 1), messages.unit())
    [answer] = messages.emitted
    assert answer.type == ev.INVENTORY_REJECTED and isinstance(answer.data, ev.InventoryRejected)
    assert (answer.data.order_id, answer.data.reason) == ("o-2", reason)


async def test_a_message_already_handled_changes_nothing(inventory: InventoryStore) -> None:
    messages = FakeMessages(handled={"m-1"})
    before = available(inventory)
    handlers = InventoryHandlers(inventory)
    await handlers.on_order_placed(placed("o-3"), messages.unit("m-1"))
    await handlers.on_payment_declined(
        ev.PaymentDeclined(order_id="o-3", amount_cents=8999, items=PRICED), messages.unit("m-1")
    )
    assert available(inventory) == before and inventory.reservation("o-3") is None
    assert messages.emitted == []


async def test_a_refused_order_id_emits_nothing_and_is_not_marked_handled(
    inventory: InventoryStore,
) -> None:
    messages = FakeMessages()
    with pytest.raises(InvalidRequest):
        await InventoryHandlers(inventory).on_order_placed(placed(" spaced "), messages.unit())
    assert messages.handled == set() and messages.emitted == []


async def test_a_declined_payment_releases_the_stock_and_says_so(
    inventory: InventoryStore,
) -> None:
    messages = FakeMessages()
    handlers = InventoryHandlers(inventory)
    before = available(inventory)
    await handlers.on_order_placed(placed("o-4"), messages.unit("m-1"))
    declined = ev.PaymentDeclined(order_id="o-4", amount_cents=2 * 8999, items=PRICED)
    await handlers.on_payment_declined(declined, messages.unit("m-2"))
    assert available(inventory) == before
    released = messages.emitted[-1]
    assert released.type == ev.INVENTORY_RELEASED
    assert released.data == ev.InventoryReleased(
        order_id="o-4", reason="PAYMENT_DECLINED", items=PRICED
    )


async def test_a_voided_order_gives_its_stock_back_without_an_answer(
    inventory: InventoryStore,
) -> None:
    messages = FakeMessages()
    handlers = InventoryHandlers(inventory)
    before = available(inventory)
    await handlers.on_order_placed(placed("o-5"), messages.unit("m-1"))
    await handlers.on_order_voided(voided("o-5"), messages.unit("m-2"))
    assert available(inventory) == before
    assert [e.type for e in messages.emitted] == [ev.INVENTORY_RESERVED]
    assert messages.handled == {"m-1", "m-2"}


@pytest.mark.parametrize(
    ("token", "kind", "status"),
    [
        ("tok_visa", ev.PAYMENT_CHARGED, PaymentStatus.CHARGED),
        ("tok_chargeDeclined", ev.PAYMENT_DECLINED, PaymentStatus.DECLINED),
    ],
)
async def test_a_reservation_is_charged_once_and_answered_with_the_outcome(
    payments: PaymentStore, token: str, kind: str, status: PaymentStatus
) -> None:
    recorded: list[PaymentStatus] = []
    handlers = PaymentHandlers(payments, on_recorded=recorded.append)
    messages = FakeMessages()
    await handlers.on_inventory_reserved(reserved("o-6", token), messages.unit("m-1"))
    await handlers.on_inventory_reserved(reserved("o-6", token), messages.unit("m-1"))
    assert recorded == [status]  # the redelivery is not counted again
    [answer] = messages.emitted
    assert answer.type == kind and type(answer.data) is ev.SCHEMAS[kind]
    assert isinstance(answer.data, ev.PaymentCharged)
    assert (answer.data.amount_cents, answer.data.items) == (2 * 8999, PRICED)


async def test_a_voided_order_is_refunded_and_a_late_charge_refused(
    payments: PaymentStore,
) -> None:
    recorded: list[PaymentStatus] = []
    handlers = PaymentHandlers(payments, on_recorded=recorded.append)
    messages = FakeMessages()
    await handlers.on_inventory_reserved(reserved("o-7"), messages.unit("m-1"))
    await handlers.on_order_voided(voided("o-7"), messages.unit("m-2"))
    await handlers.on_order_voided(voided("o-8"), messages.unit("m-3"))
    with pytest.raises(DomainError, match="voided"):
        await handlers.on_inventory_reserved(reserved("o-8"), messages.unit("m-4"))
    assert recorded == [PaymentStatus.CHARGED, PaymentStatus.REFUNDED, PaymentStatus.VOIDED]
    assert [e.type for e in messages.emitted] == [ev.PAYMENT_CHARGED]
    assert "m-4" not in messages.handled


def finished(order_id: str, status: Literal["CONFIRMED", "CANCELLED"]) -> ev.OrderFinished:
    order = ev.OrderDocument(
        id=order_id,
        customer_id="ada",
        status=status,
        reason=None if status == "CONFIRMED" else "PAYMENT_DECLINED",
        items=[ev.OrderItem(sku="KB-MECH", quantity=1, unit_price_cents=8999)],
        total_cents=8999,
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:01Z",
    )
    return ev.OrderFinished(order=order)


async def test_a_finished_order_is_told_once_as_its_event_type_says(tmp_path: Path) -> None:
    store = NotificationStore.open(tmp_path / "notification.db")
    recorded: list[tuple[str, bool]] = []
    handlers = NotificationHandlers(
        store, on_recorded=lambda n, new: recorded.append((n.kind, new))
    )
    messages = FakeMessages()
    confirmed = finished("o-9", "CONFIRMED")
    await handlers.on_order_finished(confirmed, messages.unit("m-1", ev.ORDER_CONFIRMED))
    await handlers.on_order_finished(confirmed, messages.unit("m-1", ev.ORDER_CONFIRMED))
    await handlers.on_order_finished(confirmed, messages.unit("m-2", ev.ORDER_CONFIRMED))
    assert store.told() == [("o-9", ev.ORDER_CONFIRMED)]
    # The redelivery (m-1 again) is not even a duplicate; another copy (m-2) is one.
    assert recorded == [(ev.ORDER_CONFIRMED, True), (ev.ORDER_CONFIRMED, False)]
    assert messages.emitted == [] and messages.handled == {"m-1", "m-2"}
    store.close()


def place(key: str) -> ev.PlaceOrderCommand:
    return ev.PlaceOrderCommand(
        customer_id="ada",
        items=[ev.Item(sku="KB-MECH", quantity=2)],
        payment_token="tok_visa",
        idempotency_key=key,
    )


async def test_order_answers_every_waiting_client_with_one_terminal_event(tmp_path: Path) -> None:
    store = OrderStore.open(tmp_path / "order.db")
    choreography = OrderChoreography(store, new_id=lambda: "o-10")
    messages = FakeMessages()
    await choreography.on_place(place("k-1"), messages.unit("m-1", ev.ORDER_PLACE, "first"))
    await choreography.on_place(place("k-1"), messages.unit("m-2", ev.ORDER_PLACE, "retry"))
    charged = ev.PaymentCharged(order_id="o-10", amount_cents=2 * 8999, items=PRICED)
    await choreography.on_payment_charged(charged, messages.unit("m-3", ev.PAYMENT_CHARGED))
    placed_, *answers = messages.emitted
    assert placed_.type == ev.ORDER_PLACED and placed_.data == placed("o-10")
    assert sorted(str(a.correlation_id) for a in answers) == ["first", "retry"]
    assert {a.event_id for a in answers} == {derived_id("o-10", ev.ORDER_CONFIRMED)}
    assert all(isinstance(a.data, ev.OrderFinished) for a in answers)
    store.close()


async def test_order_voids_what_is_held_for_an_order_it_never_placed(tmp_path: Path) -> None:
    store = OrderStore.open(tmp_path / "order.db")
    messages = FakeMessages()
    reserved_ = reserved("forged")
    await OrderChoreography(store).on_inventory_reserved(
        reserved_, messages.unit("m-1", ev.INVENTORY_RESERVED)
    )
    [void] = messages.emitted
    assert void.type == ev.ORDER_VOIDED and void.event_id == derived_id("forged", ev.ORDER_VOIDED)
    assert void.data == ev.OrderVoided(
        order_id="forged", reason="UNKNOWN_ORDER", detail=f"caused by {ev.INVENTORY_RESERVED}"
    )
    assert store.get("forged") is None
    store.close()
