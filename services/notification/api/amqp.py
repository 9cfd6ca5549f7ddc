"""Notification on the broker: every terminal order event becomes a notification, with its
typed data and a unit of work for the message (the consumer decodes, retries and dead-letters)."""

from __future__ import annotations

from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import UseCase
from services.kernel.broker.outbox import Messages
from services.kernel.broker.reactions import Reactions
from services.notification.handlers import NotificationHandlers


def routes(handlers: NotificationHandlers, messages: Messages) -> dict[str, UseCase]:
    finished = Reactions(messages).to(ev.OrderFinished, handlers.on_order_finished)
    return dict.fromkeys(ev.TERMINAL, finished)
