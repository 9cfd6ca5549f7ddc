"""Notification keeps one notification per order, whichever way it arrives: the order service's
REST deliveries (at least once) and the broker's terminal events (two copies with different
event ids, e.g. one per waiting client) are recognised as repeats; another outcome is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import CloudEvent, new_event
from services.notification.domain import NotificationRequest, OutcomeConflict
from services.notification.handlers import NotificationHandlers
from services.notification.store import NotificationStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NotificationStore]:
    opened = NotificationStore.open(tmp_path / "notification.db")
    yield opened
    opened.close()


def finished(order_id: str, kind: str, correlation_id: str) -> CloudEvent:
    status = kind.removeprefix("order.").upper()
    order = {
        "id": order_id,
        "customer_id": "ada",
        "status": status,
        "reason": None if status == "CONFIRMED" else "PAYMENT_DECLINED",
        "items": [{"sku": "KB-MECH", "quantity": 1, "unit_price_cents": 8999}],
        "total_cents": 8999,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:01Z",
    }
    return new_event(kind, "orderflow/order", {"order": order}, correlation_id, order_id)


async def test_every_way_one_outcome_arrives_tells_the_customer_once(
    store: NotificationStore,
) -> None:
    handlers = NotificationHandlers(store)
    await handlers.on_order_finished(finished("o-1", ev.ORDER_CONFIRMED, "first-client"))
    await handlers.on_order_finished(finished("o-1", ev.ORDER_CONFIRMED, "retrying-client"))
    _, created = await handlers.notify(
        NotificationRequest("o-1", "ada", ev.ORDER_CONFIRMED, None, 8999)
    )
    assert not created
    assert store.told() == [("o-1", "order.confirmed")]
    assert store.summary() == {"notifications": 1, "duplicates": 2}


async def test_another_outcome_for_a_told_order_is_refused_in_both_ways(
    store: NotificationStore,
) -> None:
    handlers = NotificationHandlers(store)
    await handlers.notify(NotificationRequest("o-2", "ada", ev.ORDER_CONFIRMED, None, 8999))
    with pytest.raises(OutcomeConflict):  # the broker consumer dead-letters a domain refusal
        await handlers.on_order_finished(finished("o-2", ev.ORDER_CANCELLED, "c"))
    with pytest.raises(OutcomeConflict):
        await handlers.notify(NotificationRequest("o-2", "ada", ev.ORDER_CANCELLED, "X"))
    assert store.told() == [("o-2", "order.confirmed")]
