"""Notification use cases: the only entry into the notification domain, shared by every adapter.

Recording runs its read-check-write inside one transaction with no `await` in between, so two
copies of one notification arriving together store it once and count the other as a duplicate.
The order service delivers at least once (it sends again until it gets an answer), so a repeat
is normal: it is answered as the first was, with the notification recorded then, and the
customer is not told again. One order is told one outcome: another one for it is a conflict.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from services.kernel import tracing
from services.kernel.broker import catalogue as ev
from services.kernel.broker.unit_of_work import UnitOfWork
from services.kernel.faults import OPERATIONS, Faults
from services.kernel.paging import FIRST_PAGE, Page, Paged, paged
from services.notification.domain import (
    Notice,
    Notification,
    NotificationRequest,
    check_filters,
    check_same_outcome,
    compose,
)
from services.notification.store import LIST_LIMIT, NotificationStore
from services.notification.webhook_store import State, Webhook

# Told each notification received and whether it was new, e.g. to count it in metrics.
Recorder = Callable[[Notification, bool], None]


class WebhookOwer(Protocol):
    """Records a webhook in the caller's transaction (`owe`), then is told to send (`owed`)."""

    def owe(
        self, notification: Notification, url: str, order: Mapping[str, Any] | None
    ) -> None: ...

    def owed(self) -> None: ...


log = logging.getLogger(__name__)


def _ignore(notification: Notification, created: bool) -> None:
    return None


class NotificationHandlers:
    def __init__(
        self,
        store: NotificationStore,
        on_recorded: Recorder = _ignore,
        faults: Faults | None = None,
        webhooks: WebhookOwer | None = None,
    ) -> None:
        self._store = store
        self._on_recorded = on_recorded
        self._webhooks = webhooks
        self._faults = faults or Faults(OPERATIONS["notification"])

    async def notify(self, request: NotificationRequest) -> tuple[Notification, bool]:
        """Record a notification once per order. Returns it and whether it is new; raises
        `OutcomeConflict` if the order's customer was told another outcome."""
        await self._faults.before("notification.record")
        notice = compose(request)
        with tracing.transaction("notification.record"):
            notification, created = await self._store.atomically(
                lambda: self._record(notice, request)
            )
        self._told(notification, created, request)
        return notification, created

    async def on_order_finished(self, finished: ev.OrderFinished, uow: UnitOfWork) -> None:
        """Broker style: tell the customer how an order ended (the event's type says which
        outcome). A redelivered event is dropped by its unit of work's inbox, so it is not even
        counted as a duplicate notification."""
        order = finished.order
        request = NotificationRequest(
            order_id=order.id,
            customer_id=order.customer_id,
            kind=uow.message.type,
            reason=order.reason,
            total_cents=order.total_cents,
            callback_url=finished.callback_url,
            order=order.model_dump(mode="json"),
        )
        await self._faults.before("notification.record")
        notice = compose(request)
        with uow:
            if uow.already_handled:
                return
            notification, created = self._record(notice, request)
        self._told(notification, created, request)

    def _record(self, notice: Notice, request: NotificationRequest) -> tuple[Notification, bool]:
        """Once per order, inside the caller's transaction; its webhook with it, if asked for."""
        existing = self._store.notification(notice.order_id)
        if existing is not None:
            check_same_outcome(existing, notice)
            return self._store.count_duplicate(existing), False
        log.info("order %s: told %s: %s", notice.order_id, notice.customer_id, notice.message)
        notification = self._store.add(notice)
        if request.callback_url is not None and self._webhooks is not None:
            self._webhooks.owe(notification, request.callback_url, request.order)
        return notification, True

    def _told(
        self, notification: Notification, created: bool, request: NotificationRequest
    ) -> None:
        """After the commit: count it, and have a new webhook sent now."""
        self._on_recorded(notification, created)
        if created and request.callback_url is not None and self._webhooks is not None:
            self._webhooks.owed()

    async def told(self, page: Page = FIRST_PAGE) -> Paged[tuple[str, str]]:
        """A page of (order id, kind) of the notifications, by order id: what the audit
        compares with outcomes."""
        return paged(self._store.told(page), page, key=lambda row: row[0])

    async def list(
        self, order_id: str | None = None, customer_id: str | None = None
    ) -> list[Notification]:
        check_filters(order_id, customer_id)
        return self._store.find(order_id, customer_id)

    async def webhooks(self, state: State) -> builtins.list[Webhook]:
        return self._store.webhooks.in_state(state, LIST_LIMIT)

    async def summary(self) -> dict[str, int]:
        return self._store.summary()

    async def is_ready(self) -> dict[str, bool]:
        return {"database": self._store.is_reachable()}
