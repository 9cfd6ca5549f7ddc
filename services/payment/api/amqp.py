"""Payment on the broker: which event calls which use case (the consumer does the rest)."""

from __future__ import annotations

from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import UseCase
from services.payment.handlers import PaymentHandlers


def routes(handlers: PaymentHandlers) -> dict[str, UseCase]:
    return {
        ev.INVENTORY_RESERVED: handlers.on_inventory_reserved,
        ev.ORDER_VOIDED: handlers.on_order_voided,
    }
