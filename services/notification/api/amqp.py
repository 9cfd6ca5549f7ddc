"""Notification on the broker: every terminal order event becomes a notification."""

from __future__ import annotations

from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import UseCase
from services.notification.handlers import NotificationHandlers


def routes(handlers: NotificationHandlers) -> dict[str, UseCase]:
    return dict.fromkeys(ev.TERMINAL, handlers.on_order_finished)
