"""Notification use cases: the only entry into the notification domain, shared by every adapter.

Recording runs its read-check-write inside one transaction with no `await` in between, so two
copies of one notification arriving together store it once and count the other as a duplicate.
The order service delivers at least once (it sends again until it gets an answer), so a repeat
is normal: it is answered as the first was, with the notification recorded then, and the
customer is not told again. One order is told one outcome: another one for it is a conflict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.kernel.broker import catalogue as ev
from services.kernel.broker.catalogue import data_of
from services.kernel.broker.events import CloudEvent
from services.kernel.broker.reactions import first_delivery
from services.kernel.faults import OPERATIONS, Faults
from services.notification.domain import (
    Notice,
    Notification,
    NotificationRequest,
    check_filters,
    check_same_outcome,
    compose,
)
from services.notification.store import NotificationStore

# Told each notification received and whether it was new, e.g. to count it in metrics.
Recorder = Callable[[Notification, bool], None]


log = logging.getLogger(__name__)


def _ignore(notification: Notification, created: bool) -> None:
    return None


class NotificationHandlers:
    def __init__(
        self,
        store: NotificationStore,
        on_recorded: Recorder = _ignore,
        faults: Faults | None = None,
    ) -> None:
        self._store = store
        self._on_recorded = on_recorded
        self._faults = faults or Faults(OPERATIONS["notification"])

    async def notify(self, request: NotificationRequest) -> tuple[Notification, bool]:
        """Record a notification once per order. Returns it and whether it is new; raises
        `OutcomeConflict` if the order's customer was told another outcome."""
        await self._faults.before("notification.record")
        notice = compose(request)
        with self._store.transaction():
            notification, created = self._record(notice)
        self._on_recorded(notification, created)
        return notification, created

    async def on_order_finished(self, event: CloudEvent) -> None:
        """Broker style: tell the customer how an order ended. A redelivered event is dropped
        by the inbox, so it is not even counted as a duplicate notification."""
        order = data_of(event, ev.OrderFinished).order
        request = NotificationRequest(
            order_id=order.id,
            customer_id=order.customer_id,
            kind=event.type,
            reason=order.reason,
            total_cents=order.total_cents,
        )
        await self._faults.before("notification.record")
        notice = compose(request)
        with self._store.transaction():
            if not first_delivery(self._store.messages, event):
                return
            notification, created = self._record(notice)
        self._on_recorded(notification, created)

    def _record(self, notice: Notice) -> tuple[Notification, bool]:
        """Once per order, inside the caller's transaction."""
        existing = self._store.notification(notice.order_id)
        if existing is not None:
            check_same_outcome(existing, notice)
            return self._store.count_duplicate(existing), False
        log.info("order %s: told %s: %s", notice.order_id, notice.customer_id, notice.message)
        return self._store.add(notice), True

    async def told(self) -> list[tuple[str, str]]:
        """(order id, kind) of every notification: what the audit compares with outcomes."""
        return self._store.told()

    async def list(
        self, order_id: str | None = None, customer_id: str | None = None
    ) -> list[Notification]:
        check_filters(order_id, customer_id)
        return self._store.find(order_id, customer_id)

    async def summary(self) -> dict[str, int]:
        return self._store.summary()

    async def is_ready(self) -> dict[str, bool]:
        return {"database": self._store.is_reachable()}
