"""Inventory on the broker: which event calls which use case, with its typed data and a unit
of work for the message (the consumer decodes, retries and dead-letters)."""

from __future__ import annotations

from services.inventory.handlers import InventoryHandlers
from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import UseCase
from services.kernel.broker.outbox import Messages
from services.kernel.broker.reactions import Reactions


def routes(handlers: InventoryHandlers, messages: Messages) -> dict[str, UseCase]:
    react = Reactions(messages)
    return {
        ev.ORDER_PLACED: react.to(ev.OrderPlaced, handlers.on_order_placed),
        ev.PAYMENT_DECLINED: react.to(ev.PaymentDeclined, handlers.on_payment_declined),
        ev.ORDER_VOIDED: react.to(ev.OrderVoided, handlers.on_order_voided),
    }
