"""What every reaction to an event does, whatever the service: see each message once, and answer
with events that carry the saga's correlation id."""

from __future__ import annotations

from typing import Any

from services.kernel.broker.events import CloudEvent, new_event
from services.kernel.broker.outbox import Messages


def first_delivery(messages: Messages, event: CloudEvent) -> bool:
    """Inside the reaction's transaction: True the first time this event id is seen (and
    records it), False for a redelivery or a duplicate, which must change nothing."""
    if messages.seen(event.id):
        return False
    messages.record(event.id, event.type)
    return True


def reply(cause: CloudEvent, type_: str, data: dict[str, Any]) -> CloudEvent:
    """An event caused by `cause`: same correlation id, published by the service that the type
    names (`inventory.reserved` comes from inventory), about the order in `data`."""
    return new_event(
        type_,
        source=f"orderflow/{type_.split('.')[0]}",
        data=data,
        correlation_id=cause.correlationid,
        subject=data.get("order_id"),
    )
