"""The reaction's unit of work on either back end (SQLite, PostgreSQL): the effect, the inbox
record and the emitted events commit together or not at all, and a message already handled is a
no-op."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kernel.broker import catalogue as ev
from services.kernel.broker import outbox
from services.kernel.broker.events import CloudEvent, InvalidEvent, decode, new_event
from services.kernel.broker.reactions import Reactions
from services.kernel.broker.unit_of_work import Received, StoreUnitOfWork, UnitOfWork, derived_id
from services.kernel.database import Database, open_database

EFFECTS = "CREATE TABLE IF NOT EXISTS effects (what TEXT NOT NULL);"
PRICED = [ev.PricedItem(sku="KB-MECH", quantity=1, unit_price_cents=8999)]
CHARGED = ev.PaymentCharged(order_id="o-1", amount_cents=8999, items=PRICED)


@pytest.fixture
def messages(store_location: Path | str) -> Iterator[outbox.Messages]:
    database = open_database(store_location, outbox.SCHEMA + EFFECTS, version=1)
    yield outbox.Messages(database)
    database.close()


def unit(messages: outbox.Messages, message_id: str = "m-1") -> StoreUnitOfWork:
    return StoreUnitOfWork(messages, Received(message_id, ev.INVENTORY_RESERVED, "corr-1"))


def effect(db: Database, what: str = "charged") -> None:
    db.execute("INSERT INTO effects VALUES (?)", (what,))


def effects(db: Database) -> list[str]:
    return [row[0] for row in db.execute("SELECT what FROM effects")]


def outbox_events(messages: outbox.Messages) -> list[CloudEvent]:
    return [decode(row.body) for row in messages.unpublished()]


def test_effect_inbox_and_outbox_commit_together(messages: outbox.Messages) -> None:
    with unit(messages) as uow:
        assert not uow.already_handled
        effect(messages.database)
        uow.emit(ev.PAYMENT_CHARGED, CHARGED)
        assert messages.backlog() == 0  # collected, written only on commit
    assert effects(messages.database) == ["charged"] and messages.seen("m-1")
    [event] = outbox_events(messages)
    assert (event.type, event.source, event.subject) == (
        ev.PAYMENT_CHARGED,
        "orderflow/payment",
        "o-1",
    )
    assert event.correlationid == "corr-1" and event.data == CHARGED.model_dump()
    assert not messages.database.in_transaction


def test_a_failure_writes_nothing_and_leaves_the_message_unhandled(
    messages: outbox.Messages,
) -> None:
    with pytest.raises(RuntimeError), unit(messages) as uow:
        effect(messages.database)
        uow.emit(ev.PAYMENT_CHARGED, CHARGED)
        raise RuntimeError("the use case failed")
    assert effects(messages.database) == [] and messages.backlog() == 0
    assert not messages.seen("m-1") and not messages.database.in_transaction
    with unit(messages) as retry:  # so the retry is handled, not mistaken for a duplicate
        assert not retry.already_handled


def test_a_message_handled_before_is_a_no_op(messages: outbox.Messages) -> None:
    with unit(messages) as first:
        first.emit(ev.PAYMENT_CHARGED, CHARGED)
    with unit(messages) as again:
        assert again.already_handled
        effect(messages.database)  # even a use case that ignores it changes nothing
        again.emit(ev.PAYMENT_CHARGED, CHARGED)
    assert effects(messages.database) == [] and len(outbox_events(messages)) == 1


def test_an_event_can_be_one_event_and_go_to_another_client(messages: outbox.Messages) -> None:
    voided = ev.OrderVoided(order_id="o-1", reason="UNKNOWN_ORDER", detail="a test")
    fixed = derived_id("o-1", ev.ORDER_VOIDED)
    with unit(messages) as uow:
        uow.emit(ev.ORDER_VOIDED, voided, event_id=fixed, correlation_id="corr-2")
    [event] = outbox_events(messages)
    assert (event.id, event.correlationid, event.source) == (fixed, "corr-2", "orderflow/order")


def test_a_field_left_to_its_schema_default_is_left_out(messages: outbox.Messages) -> None:
    declined = ev.PaymentDeclined(order_id="o-1", amount_cents=8999, items=PRICED)
    with unit(messages) as uow:
        uow.emit(ev.PAYMENT_DECLINED, declined)
    [event] = outbox_events(messages)
    assert "reason" not in event.data  # as payment.declined always was; consumers default it
    assert ev.PaymentDeclined.model_validate(event.data) == declined


def test_an_event_type_must_carry_its_own_schema(messages: outbox.Messages) -> None:
    with pytest.raises(TypeError, match="does not carry"), unit(messages) as uow:
        uow.emit(ev.PAYMENT_DECLINED, CHARGED)  # a charge is not a decline
    assert messages.backlog() == 0 and not messages.seen("m-1")


async def test_the_adapter_hands_the_use_case_typed_data_and_the_message(
    messages: outbox.Messages,
) -> None:
    seen: list[tuple[ev.OrderVoided, Received]] = []

    async def use_case(data: ev.OrderVoided, uow: UnitOfWork) -> None:
        seen.append((data, uow.message))

    react = Reactions(messages).to(ev.OrderVoided, use_case)
    voided = {"order_id": "o-1", "reason": "UNKNOWN_ORDER", "detail": "a test"}
    event = new_event(ev.ORDER_VOIDED, "orderflow/test", voided, "corr-1")
    await react(event)
    expected = ev.OrderVoided.model_validate(voided)
    assert seen == [(expected, Received(event.id, ev.ORDER_VOIDED, "corr-1"))]
    with pytest.raises(InvalidEvent, match=r"data\.reason"):
        await react(new_event(ev.ORDER_VOIDED, "t", {**voided, "reason": "BORED"}, "c"))
    assert len(seen) == 1  # data that fails its schema never reaches the use case
