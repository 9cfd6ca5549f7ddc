"""Order on the broker: the command and the events that move a broker-style order, each with
its typed data and a unit of work for the message (the consumer decodes, retries and
dead-letters)."""

from __future__ import annotations

from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import UseCase
from services.kernel.broker.outbox import Messages
from services.kernel.broker.reactions import Reactions
from services.order.choreography import OrderChoreography


def routes(choreography: OrderChoreography, messages: Messages) -> dict[str, UseCase]:
    react = Reactions(messages)
    return {
        ev.ORDER_PLACE: react.to(ev.PlaceOrderCommand, choreography.on_place),
        ev.INVENTORY_RESERVED: react.to(ev.InventoryReserved, choreography.on_inventory_reserved),
        ev.INVENTORY_REJECTED: react.to(ev.InventoryRejected, choreography.on_inventory_rejected),
        ev.PAYMENT_CHARGED: react.to(ev.PaymentCharged, choreography.on_payment_charged),
        ev.INVENTORY_RELEASED: react.to(ev.InventoryReleased, choreography.on_inventory_released),
    }
