"""Telling customers how their orchestrated orders ended: at least once, until acknowledged.

A notification used to be one call after the order finished: lost whenever notification was
down, and lost without a trace when the order process died between the two (at most once).
Now the transaction that finishes an order also records that a notification is owed
(`OrderStore.owe_notification`), and this loop delivers what is owed until notification
acknowledges it, backing off while it does not answer; a restart resumes from the table. A
delivery whose acknowledgement was lost is sent again: notification keeps one notification per
order and answers a repeat as it answered the first (at least once, deduplicated: the customer
is told once in effect). The broker style gets the same from its outbox and inbox.

Every replica runs this loop on the one database: a round claims the notifications it delivers
(store.py, kernel/lease.py), so two replicas never deliver the same one at the same time; what a
round could not deliver is released for any replica's next round, and what a dead replica had
claimed is delivered by another once the lease lapses (again, perhaps: deduplicated as above).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import Enum
from typing import Final

from services.kernel import correlation, tracing
from services.kernel.config import default_replica_id
from services.kernel.errors import DownstreamUnavailable
from services.kernel.lease import Lease
from services.kernel.telemetry import Telemetry
from services.order.domain import Order
from services.order.downstream.interfaces import NotificationRefused, Routes
from services.order.store import OrderStore

log = logging.getLogger(__name__)

BATCH: Final = 32  # deliveries in flight at once: a backlog drains in batches, oldest first
FIRST_BACKOFF_S: Final = 0.25
MAX_BACKOFF_S: Final = 5.0  # a backlog starts draining at most this long after notification is back
IDLE_S: Final = 5.0  # a look at the table even when nobody said something is owed


class Round(Enum):
    DONE = "done"  # everything owed was delivered (or refused for good)
    MORE = "more"  # a full batch went through: more may be owed
    FAILED = "failed"  # notification did not acknowledge something: back off


class NotificationDelivery:
    def __init__(
        self,
        store: OrderStore,
        routes: Routes,
        telemetry: Telemetry,
        *,
        first_backoff_s: float = FIRST_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        lease: Lease | None = None,
    ) -> None:
        """`lease`: this replica's claims on the notifications it delivers."""
        self._store = store
        self._lease = lease or Lease(default_replica_id())
        self._routes = routes
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s
        self._wake = asyncio.Event()
        self._outcomes = telemetry.counter(
            "orderflow_notification_deliveries", "Notification deliveries by outcome.", ["outcome"]
        )
        backlog = telemetry.gauge(
            "orderflow_notifications_owed", "Finished orders whose customer is not told yet.", []
        )
        backlog.set_function(store.notifications_owed)

    def owed(self) -> None:
        """Something new is owed (the saga just finished an order): deliver it now."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver what is owed, for as long as the service runs."""
        backoff_s = self._first_backoff_s
        while True:
            self._wake.clear()  # before the round: a finish during it is not missed
            try:
                outcome = await self.deliver_due()
            except Exception:  # a bug or a locked database: the loop must outlive it
                log.exception("delivering notifications failed; retrying with back-off")
                outcome = Round.FAILED
            if outcome is Round.FAILED:
                if backoff_s == self._first_backoff_s:  # the first of a run: log it once
                    log.warning("notification does not acknowledge: retrying with back-off")
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, self._max_backoff_s)
                continue
            backoff_s = self._first_backoff_s
            if outcome is Round.DONE:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_S)

    async def deliver_due(self) -> Round:
        """One batch of the oldest owed notifications nobody else delivers, claimed and
        delivered at once; what was settled is struck off in one commit, not one per
        acknowledgement (a crash in between only means those are delivered again, which
        notification answers as before), and the claim on the rest is dropped."""
        due = self._store.claim_notifications(BATCH, self._lease)
        try:
            delivered = await asyncio.gather(*(self._deliver(*owed) for owed in due))
        except BaseException:  # cancelled at shutdown, or a bug: anyone may deliver them
            with self._store.transaction():
                self._store.release_notifications([order_id for order_id, _ in due], self._lease)
            raise
        outcomes = list(zip((order_id for order_id, _ in due), delivered, strict=True))
        unsettled = [order_id for order_id, ok in outcomes if not ok]
        if due:
            with self._store.transaction():
                for order_id, ok in outcomes:
                    if ok:
                        self._store.notified(order_id)
                self._store.release_notifications(unsettled, self._lease)
        if unsettled:
            return Round.FAILED
        return Round.MORE if len(due) == BATCH else Round.DONE

    async def _deliver(self, order_id: str, correlation_id: str) -> bool:
        """Whether the notification is settled: acknowledged, or refused for good."""
        order = self._store.get(order_id)
        if order is None:  # cannot happen (a foreign key): do not retry it forever
            return True
        correlation.set_current(correlation_id)  # this task's own context (gather wraps each)
        # However late, the delivery belongs to the trace of the transaction that owed it.
        parent = tracing.parent(*self._store.owed_trace(order_id)) or tracing.root()
        with tracing.span(
            "notify", parent_context=parent, attributes={"orderflow.order": order_id}
        ):
            return await self._notify(order)

    async def _notify(self, order: Order) -> bool:
        try:
            await self._routes.for_order(order).notifier.notify(order)
        except DownstreamUnavailable as error:
            self._outcomes.labels("retry").inc()
            log.debug("notification for order %s not acknowledged: %s", order.id, error)
            return False
        except NotificationRefused as error:
            # A bug on one side or the other, not an outage: the audit counts it as missing.
            self._outcomes.labels("refused").inc()
            log.error("notification refused order %s for good: %s", order.id, error)
        else:
            self._outcomes.labels("delivered").inc()
        return True
