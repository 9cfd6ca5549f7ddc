"""Payment use cases: the only entry into the payment domain, shared by every adapter.

Each use case runs its read-check-write inside one transaction with no `await` in between, so two
copies of the same charge racing each other cannot both insert, and none can charge twice (on
PostgreSQL, across processes, the order id's primary key refuses the second insert and the loser
runs again as a replay: `Store.atomically`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.kernel import tracing
from services.kernel.broker import catalogue as ev
from services.kernel.broker.unit_of_work import UnitOfWork
from services.kernel.contracts import check_identifier
from services.kernel.errors import NotFound
from services.kernel.faults import OPERATIONS, Faults
from services.kernel.paging import FIRST_PAGE, Page, Paged, paged
from services.payment.domain import (
    ChargeRequest,
    Payment,
    PaymentStatus,
    after_refund,
    check_replay,
    decide,
)
from services.payment.store import PaymentStore

log = logging.getLogger(__name__)

# Told every status a payment newly takes (never for a replay), e.g. to count it in metrics.
Recorder = Callable[[PaymentStatus], None]


def _ignore(status: PaymentStatus) -> None:
    return None


class PaymentHandlers:
    def __init__(
        self, store: PaymentStore, on_recorded: Recorder = _ignore, faults: Faults | None = None
    ) -> None:
        self._store = store
        self._on_recorded = on_recorded
        self._faults = faults or Faults(OPERATIONS["payment"])

    async def charge(self, request: ChargeRequest) -> tuple[Payment, bool]:
        """Charge once per order. Returns the payment and whether this call created it."""
        await self._faults.before("payment.charge")
        with tracing.transaction("payment.charge"):
            payment, created = await self._store.atomically(lambda: self._charge(request))
        if created:
            self._on_recorded(payment.status)
        return payment, created

    def _charge(self, request: ChargeRequest) -> tuple[Payment, bool]:
        """Inside the caller's transaction."""
        status = decide(request)
        existing = self._store.payment(request.order_id)
        if existing is not None:
            return check_replay(existing, request), False
        payment = self._store.add_payment(request, status)
        log.info("order %s: %s %d cents", payment.order_id, payment.status, payment.amount_cents)
        return payment, True

    async def on_inventory_reserved(self, reserved: ev.InventoryReserved, uow: UnitOfWork) -> None:
        """Broker style: charge for stock that was reserved; answer payment.charged or
        payment.declined, carrying the priced items on."""
        request = ChargeRequest(
            reserved.order_id, reserved.customer_id, reserved.total_cents, reserved.payment_token
        )
        await self._faults.before("payment.charge")
        with uow:
            if uow.already_handled:
                return
            payment, created = self._charge(request)
            uow.emit(*_outcome(payment, reserved))
        if created:
            self._on_recorded(payment.status)

    async def refund(self, order_id: str) -> Payment:
        """Give the money back. Safe to repeat, and safe before the charge ever arrived."""
        check_identifier("order_id", order_id)
        await self._faults.before("payment.refund")
        with tracing.transaction("payment.refund"):
            changed, refunded = await self._store.atomically(
                lambda: (self._apply_refund(order_id), self._store.payment(order_id))
            )
        assert refunded is not None
        self._refunded(order_id, changed)
        return refunded

    async def on_order_voided(self, voided: ev.OrderVoided, uow: UnitOfWork) -> None:
        """Broker style: the order service says nothing of this order stands, so its money goes
        back (or, before the charge, the charge is voided). No event answers it, so a forged
        chain cannot loop."""
        check_identifier("order_id", voided.order_id)
        await self._faults.before("payment.refund")
        with uow:
            if uow.already_handled:
                return
            changed = self._apply_refund(voided.order_id)
        log.warning("order %s: voided (%s)", voided.order_id, voided.reason)
        self._refunded(voided.order_id, changed)

    def _refunded(self, order_id: str, changed: PaymentStatus | None) -> None:
        if changed is not None:
            log.info("order %s: %s", order_id, changed)
            self._on_recorded(changed)

    def _apply_refund(self, order_id: str) -> PaymentStatus | None:
        """Apply a refund inside the caller's transaction; return the new status, if it changed."""
        existing = self._store.payment(order_id, lock=True)
        if existing is None:
            self._store.add_void_marker(order_id)
            return PaymentStatus.VOIDED
        status = after_refund(existing)
        if status is existing.status:
            return None
        self._store.set_status(order_id, status)
        return status

    async def get(self, order_id: str) -> Payment:
        payment = self._store.payment(order_id)
        if payment is None:
            raise NotFound(f"no payment for order {order_id!r}", order_id=order_id)
        return payment

    async def summary(self) -> dict[str, int]:
        return self._store.summary()

    async def audit(self, page: Page = FIRST_PAGE) -> Paged[tuple[str, str, int]]:
        """A page of the payment rows as (order_id, status, amount_cents), by order id."""
        return paged(self._store.audited(page), page, key=lambda row: row[0])

    async def is_ready(self) -> dict[str, bool]:
        return {"database": self._store.is_reachable()}


def _outcome(payment: Payment, reserved: ev.InventoryReserved) -> tuple[str, ev.PaymentCharged]:
    """payment.charged or payment.declined (whose reason is its schema's default)."""
    charged = payment.status is PaymentStatus.CHARGED
    kind, schema = (
        (ev.PAYMENT_CHARGED, ev.PaymentCharged)
        if charged
        else (ev.PAYMENT_DECLINED, ev.PaymentDeclined)
    )
    return kind, schema(
        order_id=payment.order_id, amount_cents=payment.amount_cents, items=reserved.items
    )
