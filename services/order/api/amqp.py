"""Order on the broker: the command and the events that move a broker-style order."""

from __future__ import annotations

from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import UseCase
from services.order.choreography import OrderChoreography


def routes(choreography: OrderChoreography) -> dict[str, UseCase]:
    return {
        ev.ORDER_PLACE: choreography.on_place,
        ev.INVENTORY_RESERVED: choreography.on_inventory_reserved,
        ev.INVENTORY_REJECTED: choreography.on_inventory_rejected,
        ev.PAYMENT_CHARGED: choreography.on_payment_charged,
        ev.INVENTORY_RELEASED: choreography.on_inventory_released,
    }
