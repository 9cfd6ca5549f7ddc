"""The order saga, orchestrated: reserve → charge → confirm, or compensate.

Every step first calls a downstream service, then saves the order's new state and a log entry in
one transaction (the confirmation, which calls nobody, is saved in the charge's). Because every
downstream call is idempotent (keyed by the order id) and the saga's position is durable,
`advance` can be called again on any unfinished order after a crash:
it repeats at most the one call whose answer was lost, and the other side answers it from its
record instead of doing it twice.

A call whose outcome is unknown is compensated as if it happened (a refund of a charge that never
happened voids it). The one exception: on the order's first run, a call refused before it left
(`NotSent`: an open breaker, a full bulkhead) certainly did not happen, and there is no earlier
try it could hide, so there is nothing to undo. While a breaker is open, that saves a refund or
a release per refused order: calls that would otherwise queue up for the service's return.

The step that finishes an order also records, in the same transaction, that its customer is owed
a notification; `NotificationDelivery` (notifications.py) delivers it, however often it takes.

With replicas on one database, one saga is driven by one replica at a time: its claim on the
order (store.py, kernel/lease.py) is taken before `advance` (OrderHandlers), renewed while it
runs, checked by every save (a replica that was taken over saves nothing: ClaimLost) and dropped
when it stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

from services.kernel import correlation, tracing
from services.kernel.clock import now_iso
from services.kernel.config import default_replica_id
from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable, NotSent
from services.kernel.lease import Lease
from services.kernel.telemetry import Telemetry
from services.order import domain
from services.order.domain import Compensation, Order, Reason, SagaState, Status
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeStatus,
    Downstream,
    ReservationRefused,
    Routes,
)
from services.order.store import OrderStore
from services.order.updates import OrderUpdates

log = logging.getLogger(__name__)


class Saga:
    def __init__(
        self,
        store: OrderStore,
        downstream: Routes,
        telemetry: Telemetry,
        clock: Callable[[], str] = now_iso,
        updates: OrderUpdates | None = None,
        on_owed: Callable[[], None] = lambda: None,
        lease: Lease | None = None,
    ) -> None:
        """`on_owed` is told when a finished order's notification has been recorded as owed;
        `lease` is this replica's claim on the orders it drives."""
        self._store = store
        self.lease = lease or Lease(default_replica_id())
        # The orders whose sagas run here, renewed together by one timer while there are any.
        self._held: set[str] = set()
        self._renewal: asyncio.TimerHandle | None = None
        self._downstream = downstream
        self._clock = clock
        self.updates = updates or OrderUpdates()
        self._on_owed = on_owed
        self._steps = telemetry.counter(
            "orderflow_saga_steps", "Saga steps by step and outcome.", ["step", "outcome"]
        )
        self._finished = telemetry.counter(
            "orderflow_orders_finished", "Orders that reached a final status.", ["status", "reason"]
        )

    def claim(self, order_id: str) -> bool:
        """Whether this replica may drive the order now (it holds the order's claim)."""
        return self._store.claim(order_id, self.lease)

    async def advance(self, order: Order, *, first_run: bool = False) -> Order:
        """Drive an order as far as it can go now: to DONE, or until compensation must wait.
        The caller holds the order's claim (`claim`, or the order was recorded with it); it is
        renewed while the saga runs and dropped when it stops. Raises ClaimLost if another
        replica took the order over (this one's lease lapsed): that one drives it on.

        `first_run`: this process has just placed the order, so none of its steps has been tried
        before. Recovery (after a crash, or for a compensation that had to wait) leaves it False."""
        self._hold(order.id)
        done = False
        try:
            order = await self._advance(order, first_run)
            done = order.saga is SagaState.DONE  # the saving of the end dropped the claim
            return order
        finally:
            self._release(order.id, still_held=not done)

    async def _advance(self, order: Order, first_run: bool) -> Order:
        if correlation.current() is None:
            correlation.set_current(order.id)
        while order.saga is not SagaState.DONE:
            with tracing.span(
                f"saga {_step_name(order)}", attributes={"orderflow.order": order.id}
            ):
                moved = await self._step(order, first_run)
            if moved is None:  # compensation must wait; part of it may have been saved
                return self._store.get(order.id) or order
            order = moved
        self._finish(order)
        return order

    def _hold(self, order_id: str) -> None:
        """Renew the order's claim while its saga runs (a downstream call may outlast a lease):
        one timer renews every saga of this replica, in one statement."""
        self._held.add(order_id)
        if self._renewal is None:
            loop = asyncio.get_running_loop()
            self._renewal = loop.call_later(self.lease.renew_every_s, self._renew_held)

    def _renew_held(self) -> None:
        self._renewal = None
        try:
            lost = self._store.renew_claims(sorted(self._held), self.lease)
        except Exception:  # the database, for a moment: the next renewal may pass
            log.exception("renewing the claims of %d saga(s) failed", len(self._held))
            lost = []
        for order_id in lost:  # its next save is refused (ClaimLost)
            log.warning("order %s: taken over by another replica", order_id)
            self._held.discard(order_id)
        if self._held:
            loop = asyncio.get_running_loop()
            self._renewal = loop.call_later(self.lease.renew_every_s, self._renew_held)

    def _release(self, order_id: str, *, still_held: bool) -> None:
        """The saga stopped. Short of its end, its claim is dropped: any replica may drive the
        order again now (the save that finished a saga dropped it already)."""
        self._held.discard(order_id)
        if not self._held and self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None
        if not still_held:
            return
        try:
            self._store.release_claim(order_id, self.lease)
        except Exception:  # then the claim lapses by itself
            log.exception("order %s: releasing its claim failed", order_id)

    async def _step(self, order: Order, first_run: bool) -> Order | None:
        if order.saga is SagaState.COMPENSATING:
            return await self._compensate(order)
        if order.status is Status.PENDING:
            return await self._reserve(order, first_run)
        if order.status is Status.RESERVED:
            return await self._charge(order, first_run)
        if order.status is Status.PAID:  # saved alone by releases before charge and confirm
            return self._save(domain.confirmed(order, self._clock()), "confirm", "ok")
        raise domain.IllegalTransition(f"order {order.id} is {order.status} with an open saga")

    async def _reserve(self, order: Order, first_run: bool) -> Order:
        requested = tuple(Line(line.sku, line.quantity) for line in order.lines)
        now = self._clock()
        try:
            priced = await self._calls(order).inventory.reserve(order.id, requested)
        except ReservationRefused as refused:
            rejected = domain.rejected(order, Reason(refused.reason), now, Compensation())
            return self._save(rejected, "reserve", "refused", str(refused))
        except DownstreamUnavailable as error:
            # The reservation may have happened: release it (a no-op if it did not).
            never_sent = _never_sent(error, first_run)
            undo = Compensation(release_stock=not never_sent)
            rejected = domain.rejected(order, Reason.INVENTORY_UNAVAILABLE, now, undo)
            outcome = "not_sent" if never_sent else "unavailable"
            return self._save(rejected, "reserve", outcome, str(error))
        return self._save(domain.reserved(order, priced, now), "reserve", "ok")

    async def _charge(self, order: Order, first_run: bool) -> Order:
        amount = order.total_cents
        assert amount is not None, "a reserved order is priced"
        now = self._clock()
        try:
            result = await self._calls(order).payment.charge(
                order.id, order.customer_id, amount, order.payment_token
            )
        except (DownstreamUnavailable, ChargeRefused) as error:
            # Money may have moved: refund (or void) it, and release the stock.
            never_sent = _never_sent(error, first_run)
            undo = Compensation(release_stock=True, refund_payment=not never_sent)
            failed = domain.cancelled(order, Reason.PAYMENT_FAILED, now, undo)
            return self._save(failed, "charge", "not_sent" if never_sent else "failed", str(error))
        if result.status is ChargeStatus.CHARGED:
            return self._paid_and_confirmed(domain.paid(order, now))
        reason = (
            Reason.PAYMENT_DECLINED
            if result.status is ChargeStatus.DECLINED
            else Reason.PAYMENT_FAILED
        )
        declined = domain.cancelled(order, reason, now, Compensation(release_stock=True))
        return self._save(declined, "charge", result.status.lower())

    async def _compensate(self, order: Order) -> Order | None:
        """Refund, then release; each done step is saved so a retry skips it."""
        try:
            if order.compensation.refund_payment:
                await self._calls(order).payment.refund(order.id)
                left = replace(order.compensation, refund_payment=False)
                order = self._save(domain.compensated(order, self._clock(), left), "refund", "ok")
            if order.compensation.release_stock:
                await self._calls(order).inventory.release(order.id)
                left = replace(order.compensation, release_stock=False)
                order = self._save(domain.compensated(order, self._clock(), left), "release", "ok")
        except DownstreamUnavailable as error:
            self._postponed(order, str(error))
            return None
        return order

    def _calls(self, order: Order) -> Downstream:
        return self._downstream.for_order(order)

    def _postponed(self, order: Order, cause: str) -> None:
        """Log the first of a run of failed attempts only: retries go on every few seconds for
        as long as a service is down, and the log must not grow with the outage."""
        self._steps.labels("compensate", "postponed").inc()
        with tracing.transaction("order.postpone"), self._store.transaction():
            if self._store.last_outcome(order.id) != ("compensate", "postponed"):
                self._store.log(order.id, "compensate", "postponed", self._clock(), cause)

    def _paid_and_confirmed(self, paid: Order) -> Order:
        """Once the charge is taken nothing can stop the confirmation (it calls nobody), so both
        are saved in one commit instead of two: the order still goes through PAID, numbered,
        logged and pushed to its watchers before CONFIRMED, as every client saw it before."""
        confirmed = domain.confirmed(paid, self._clock())
        return self._save_steps(_Step(paid, "charge", "ok"), _Step(confirmed, "confirm", "ok"))

    def _save(self, order: Order, step: str, outcome: str, detail: str | None = None) -> Order:
        return self._save_steps(_Step(order, step, outcome, detail))

    def _save_steps(self, *steps: _Step) -> Order:
        """Save one or more steps in one transaction; then count, log and publish each, in order.
        Returns the last step's order."""
        last = steps[-1].order
        named = "+".join(step.step for step in steps)  # order.charge+confirm: one commit
        with tracing.transaction(f"order.{named}"), self._store.transaction():
            for order, step, outcome, detail in steps:
                self._store.update(order, self.lease)  # ClaimLost: taken over, nothing saved
                self._store.log(order.id, step, outcome, order.updated_at, detail)
            if last.saga is SagaState.DONE:  # finished: the customer must be told, once
                told_as = correlation.current() or last.id
                trace = tracing.carrier()  # the delivery joins this order's trace
                self._store.owe_notification(last.id, last.updated_at, told_as, trace)
        for order, step, outcome, _ in steps:
            self._steps.labels(step, outcome).inc()
            level = logging.DEBUG if _routine(order, step, outcome) else logging.INFO
            log.log(level, "order %s: %s %s -> %s", order.id, step, outcome, order.status)
            self.updates.publish(order)
        return last

    def _finish(self, order: Order) -> None:
        """Count the outcome; the notification it owes is already recorded with it."""
        self._finished.labels(order.status.value, order.reason or "").inc()
        self._on_owed()


class _Step(NamedTuple):
    """One saga step to save: the order as it leaves the step, and the saga log's entry."""

    order: Order
    step: str
    outcome: str
    detail: str | None = None


def _step_name(order: Order) -> str:
    """The step `_step` is about to take, for its span."""
    if order.saga is SagaState.COMPENSATING:
        return "compensate"
    return {Status.PENDING: "reserve", Status.RESERVED: "charge"}.get(order.status, "confirm")


def _routine(order: Order, step: str, outcome: str) -> bool:
    """A step on the way to the end of a happy order: logged at DEBUG. Its end (whichever step
    finishes it) and everything exceptional (a refusal, a failure, a compensation) stay INFO, so
    an order costs one INFO line here and the lines a teacher shows (`not_sent`) are still there."""
    return order.saga is not SagaState.DONE and (step, outcome) in _ROUTINE_STEPS


_ROUTINE_STEPS = frozenset({("reserve", "ok"), ("charge", "ok")})


def _never_sent(error: Exception, first_run: bool) -> bool:
    """Whether a failed step certainly did not happen, so that there is nothing to undo."""
    return first_run and isinstance(error, NotSent)
