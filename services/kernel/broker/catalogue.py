"""The event catalogue of the choreographed saga: each type, who publishes it, and its data.

Every consumer validates `data` against the schema of the event's type before acting, so a
message that does not match is dead-lettered with the reason instead of half-processed.

    client ── order.place ──▶ order ── order.placed ──▶ inventory
    inventory ── inventory.reserved ──▶ payment (and order: RESERVED)
              └─ inventory.rejected ──▶ order ── order.rejected ──▶ notification
    payment ── payment.charged ──▶ order ── order.confirmed ──▶ notification
            └─ payment.declined ──▶ inventory ── inventory.released ──▶ order ── order.cancelled

Defence in depth: an event that proves stock reserved or money charged for an order that the
order service never placed, or whose outcome rules it out (order.domain.must_give_back), is
answered with order.voided; inventory releases and payment refunds (or voids, if the charge
has not come yet). Neither answers it with an event, so it cannot loop.

    order ── order.voided ──▶ inventory (release), payment (refund)
"""

from __future__ import annotations

from typing import Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.kernel.broker.events import JSON_DATA, CloudEvent, InvalidEvent
from services.kernel.contracts import MAX_ID_LENGTH, MAX_LINES, MAX_QUANTITY

ORDER_PLACE: Final = "order.place"
ORDER_PLACED: Final = "order.placed"
INVENTORY_RESERVED: Final = "inventory.reserved"
INVENTORY_REJECTED: Final = "inventory.rejected"
PAYMENT_CHARGED: Final = "payment.charged"
PAYMENT_DECLINED: Final = "payment.declined"
INVENTORY_RELEASED: Final = "inventory.released"
ORDER_CONFIRMED: Final = "order.confirmed"
ORDER_CANCELLED: Final = "order.cancelled"
ORDER_REJECTED: Final = "order.rejected"
ORDER_VOIDED: Final = "order.voided"
TERMINAL: Final = (ORDER_CONFIRMED, ORDER_CANCELLED, ORDER_REJECTED)


class EventData(BaseModel):
    """The data of one of the catalogue's event types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Identifier = Field(min_length=1, max_length=MAX_ID_LENGTH)


class Item(EventData):
    sku: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class PricedItem(Item):
    unit_price_cents: int = Field(ge=0)


class PlaceOrderCommand(EventData):
    """order.place: what a client asks for (the shared place-order shape)."""

    customer_id: str
    items: list[Item] = Field(max_length=MAX_LINES)
    payment_token: str
    idempotency_key: str | None = None
    # Checked by the order service against its allow-list (services/kernel/webhooks.py).
    callback_url: str | None = Field(None, max_length=2048)


class OrderPlaced(EventData):
    order_id: str = Identifier
    customer_id: str
    items: list[Item] = Field(min_length=1, max_length=MAX_LINES)
    payment_token: str


class InventoryReserved(EventData):
    """Carries what payment needs (event-carried state): no service queries another."""

    order_id: str = Identifier
    customer_id: str
    payment_token: str
    items: list[PricedItem] = Field(min_length=1, max_length=MAX_LINES)
    total_cents: int = Field(ge=0)


Rejection = Literal["OUT_OF_STOCK", "UNKNOWN_SKU"]


class InventoryRejected(EventData):
    order_id: str = Identifier
    reason: Rejection
    detail: str


class PaymentCharged(EventData):
    """Carries the priced items so order can finish even if it sees this before the
    inventory.reserved that caused it (deliveries to one queue are not ordered across
    redeliveries)."""

    order_id: str = Identifier
    amount_cents: int = Field(ge=0)
    items: list[PricedItem] = Field(min_length=1, max_length=MAX_LINES)


class PaymentDeclined(PaymentCharged):
    reason: Literal["PAYMENT_DECLINED"] = "PAYMENT_DECLINED"


class InventoryReleased(EventData):
    order_id: str = Identifier
    reason: Literal["PAYMENT_DECLINED"]
    items: list[PricedItem] = Field(min_length=1, max_length=MAX_LINES)


VoidReason = Literal["UNKNOWN_ORDER", "ORDER_REJECTED", "ORDER_CANCELLED"]


class OrderVoided(EventData):
    """order.voided: give back whatever is held for this order; nothing of it stands."""

    order_id: str = Identifier
    reason: VoidReason
    detail: str = Field(max_length=500)


class OrderItem(EventData):
    sku: str
    quantity: int
    unit_price_cents: int | None


class OrderDocument(EventData):
    """The shared order shape (docs/architecture.md §2)."""

    id: str = Identifier
    customer_id: str
    status: Literal["CONFIRMED", "CANCELLED", "REJECTED"]
    reason: str | None
    items: list[OrderItem]
    total_cents: int | None
    created_at: str
    updated_at: str


class OrderFinished(EventData):
    """order.confirmed / order.cancelled / order.rejected: the order in its final state."""

    order: OrderDocument
    callback_url: str | None = None  # where notification sends the order's webhook, if anywhere


D = TypeVar("D", bound=EventData)

SCHEMAS: Final[dict[str, type[EventData]]] = {
    ORDER_PLACE: PlaceOrderCommand,
    ORDER_PLACED: OrderPlaced,
    INVENTORY_RESERVED: InventoryReserved,
    INVENTORY_REJECTED: InventoryRejected,
    PAYMENT_CHARGED: PaymentCharged,
    PAYMENT_DECLINED: PaymentDeclined,
    INVENTORY_RELEASED: InventoryReleased,
    ORDER_CONFIRMED: OrderFinished,
    ORDER_CANCELLED: OrderFinished,
    ORDER_REJECTED: OrderFinished,
    ORDER_VOIDED: OrderVoided,
}


def data_of(event: CloudEvent, schema: type[D]) -> D:
    """The event's data, validated against `schema`; raises InvalidEvent naming the field."""
    expected = SCHEMAS.get(event.type)
    if expected is not schema:
        raise InvalidEvent(f"event type {event.type!r} does not carry {schema.__name__}")
    if not event.json_data or not isinstance(event.data, dict):
        # A valid CloudEvent, but not one of ours: every type here carries a JSON object.
        raise InvalidEvent(f"{event.type} data must be a JSON object ({JSON_DATA})")
    try:
        return schema.model_validate(event.data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "data"
        raise InvalidEvent(f"{event.type} data.{where}: {first['msg']}") from None
