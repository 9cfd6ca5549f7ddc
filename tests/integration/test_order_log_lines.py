"""A broker-style order logs one INFO line in the order service, at its end: the steps on the
way cost CPU on every order and are at DEBUG (docs/protocols.md, "Correlation ids")."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import CloudEvent, new_event
from services.order.api import amqp as order_amqp
from services.order.choreography import OrderChoreography
from services.order.choreography import log as choreography_log
from services.order.store import OrderStore

PRICED = [{"sku": "KB-MECH", "quantity": 1, "unit_price_cents": 8999}]


def event(type_: str, data: dict[str, Any]) -> CloudEvent:
    return new_event(type_, "orderflow/test", data, "corr-1")


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == choreography_log.name and r.levelno == level
    ]


async def test_a_broker_order_logs_its_end_at_info_and_its_steps_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = OrderStore.open(tmp_path / "order.db")
    # Through the order service's AMQP adapter, as a delivery reaches it.
    react = order_amqp.routes(OrderChoreography(store, new_id=lambda: "o-1"), store.messages)
    place = {"customer_id": "ada", "items": [{"sku": "KB-MECH", "quantity": 1}]}
    reserved = {"order_id": "o-1", "customer_id": "ada", "payment_token": "tok_visa"}
    with caplog.at_level(logging.DEBUG):
        await react[ev.ORDER_PLACE](event(ev.ORDER_PLACE, {**place, "payment_token": "tok_visa"}))
        await react[ev.INVENTORY_RESERVED](
            event(ev.INVENTORY_RESERVED, {**reserved, "items": PRICED, "total_cents": 8999})
        )
        await react[ev.PAYMENT_CHARGED](
            event(ev.PAYMENT_CHARGED, {"order_id": "o-1", "amount_cents": 8999, "items": PRICED})
        )
    store.close()
    assert lines(caplog, logging.INFO) == ["order o-1: payment.charged -> CONFIRMED"]
    assert lines(caplog, logging.DEBUG) == [
        "order o-1: placed (broker)",
        "order o-1: inventory.reserved -> RESERVED",
    ]
