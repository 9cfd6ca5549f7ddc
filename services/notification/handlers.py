"""Notification use cases: the only entry into the notification domain, shared by every adapter.

Recording runs its read-check-write inside one transaction with no `await` in between, so two
copies of one notification arriving together store it once and count the other as a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.notification.domain import (
    Notification,
    NotificationRequest,
    check_filters,
    compose,
)
from services.notification.store import NotificationStore

# Told each notification received and whether it was new, e.g. to count it in metrics.
Recorder = Callable[[Notification, bool], None]


log = logging.getLogger(__name__)


def _ignore(notification: Notification, created: bool) -> None:
    return None


class NotificationHandlers:
    def __init__(self, store: NotificationStore, on_recorded: Recorder = _ignore) -> None:
        self._store = store
        self._on_recorded = on_recorded

    async def notify(self, request: NotificationRequest) -> tuple[Notification, bool]:
        """Record a notification once per (order, kind). Returns it and whether it is new."""
        notice = compose(request)
        with self._store.transaction():
            existing = self._store.notification(notice.order_id, notice.kind)
            if existing is None:
                notification = self._store.add(notice)
            else:
                notification = self._store.count_duplicate(existing)
        created = existing is None
        if created:
            log.info("order %s: told %s: %s", notice.order_id, notice.customer_id, notice.message)
        self._on_recorded(notification, created)
        return notification, created

    async def list(
        self, order_id: str | None = None, customer_id: str | None = None
    ) -> list[Notification]:
        check_filters(order_id, customer_id)
        return self._store.find(order_id, customer_id)

    async def summary(self) -> dict[str, int]:
        return self._store.summary()

    async def is_ready(self) -> dict[str, bool]:
        return {"database": self._store.is_reachable()}
