"""Inventory on the broker: which event calls which use case (the consumer does the rest)."""

from __future__ import annotations

from services.inventory.handlers import InventoryHandlers
from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import UseCase


def routes(handlers: InventoryHandlers) -> dict[str, UseCase]:
    return {
        ev.ORDER_PLACED: handlers.on_order_placed,
        ev.PAYMENT_DECLINED: handlers.on_payment_declined,
        ev.ORDER_VOIDED: handlers.on_order_voided,
    }
