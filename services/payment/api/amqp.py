"""Payment on the broker: which event calls which use case, with its typed data and a unit of
work for the message (the consumer decodes, retries and dead-letters)."""

from __future__ import annotations

from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import UseCase
from services.kernel.broker.outbox import Messages
from services.kernel.broker.reactions import Reactions
from services.payment.handlers import PaymentHandlers


def routes(handlers: PaymentHandlers, messages: Messages) -> dict[str, UseCase]:
    react = Reactions(messages)
    return {
        ev.INVENTORY_RESERVED: react.to(ev.InventoryReserved, handlers.on_inventory_reserved),
        ev.ORDER_VOIDED: react.to(ev.OrderVoided, handlers.on_order_voided),
    }
