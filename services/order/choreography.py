"""The order service's part in the broker style: no saga calls anyone here, it reacts.

    order.place          → record the order (PENDING), emit order.placed
    inventory.reserved   → RESERVED
    inventory.rejected   → REJECTED, emit order.rejected
    payment.charged      → PAID → CONFIRMED, emit order.confirmed
    inventory.released   → CANCELLED (stock is back), emit order.cancelled

Defence in depth (anyone who may publish could forge an event): an event about an order this
service never placed, or that proves a hold the order's outcome rules out (domain.must_give_back),
is answered with order.voided, on which inventory releases and payment refunds; the order itself
does not change. An event about an order of another style is not the choreography's: refused.

Log lines keep the client's correlation id (every event of the saga carries it), so one grep
follows an order across the four services. Each reaction is one transaction with its inbox
record, the order's new state, its saga log entries and the events it emits. Events about one
order can arrive out of order (a retried delivery is overtaken by a later one), so a reaction
first catches the order up with what the event proves has happened: payment.charged carries
the priced items, so it can reserve too.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace

from services.kernel import correlation
from services.kernel.broker import catalogue as ev
from services.kernel.broker.traced_work import TracedUnitOfWork
from services.kernel.broker.unit_of_work import (
    Received,
    StoreUnitOfWork,
    UnitOfWork,
    derived_id,
)
from services.kernel.clock import now_iso
from services.kernel.contracts import LOOPBACK_HOSTS, Line
from services.kernel.errors import Conflict
from services.kernel.faults import OPERATIONS, Faults
from services.kernel.styles import BROKER
from services.order import domain
from services.order.domain import (
    Compensation,
    Hold,
    Order,
    OrderLine,
    PlaceOrder,
    Reason,
    Status,
)
from services.order.store import OrderStore

log = logging.getLogger(__name__)

FINISHED_EVENT = {
    Status.CONFIRMED: ev.ORDER_CONFIRMED,
    Status.CANCELLED: ev.ORDER_CANCELLED,
    Status.REJECTED: ev.ORDER_REJECTED,
}
# The outcomes that rule a hold out (domain.must_give_back), as order.voided names them.
VOID_REASON: dict[Status, ev.VoidReason] = {
    Status.REJECTED: "ORDER_REJECTED",
    Status.CANCELLED: "ORDER_CANCELLED",
}


class OrderChoreography:
    def __init__(
        self,
        store: OrderStore,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        on_saved: Callable[[Order], None] = lambda order: None,
        faults: Faults | None = None,
        callback_hosts: frozenset[str] = LOOPBACK_HOSTS,
    ) -> None:
        self._store = store
        self._callback_hosts = callback_hosts
        self._new_id = new_id
        self._on_saved = on_saved
        # Shared with OrderHandlers: the broker's command is the same `order.place` entry.
        self._faults = faults or Faults(OPERATIONS["order"])

    async def on_place(self, request: ev.PlaceOrderCommand, uow: UnitOfWork) -> None:
        command = PlaceOrder(
            customer_id=request.customer_id,
            lines=tuple(Line(item.sku, item.quantity) for item in request.items),
            payment_token=request.payment_token,
            idempotency_key=request.idempotency_key,
            callback_url=request.callback_url,
        )
        await self.place(command, uow)

    async def place(self, command: PlaceOrder, uow: UnitOfWork) -> tuple[Order, bool] | None:
        """Record the order (PENDING) and its order.placed in one transaction, the choreography
        runs from there: the `order.place` command's use case, and the asynchronous HTTP front's
        (`Prefer: respond-async`). Returns the order and whether it is new (None when this very
        message was handled before: a redelivery, which changes nothing); a replay (the same
        idempotency key and request) is answered as `_replay` says, a different request with
        the key raises IdempotencyMismatch (the broker dead-letters it, HTTP answers 422)."""
        await self._faults.before("order.place")
        command = replace(command, style=BROKER)
        command.validate(
            self._callback_hosts
        )  # an invalid command is poison: dead-lettered with the reason
        client = uow.message.correlation_id  # the client waits for the answer under it
        with uow:
            if uow.already_handled:
                return None
            key = command.idempotency_key
            existing = self._store.by_idempotency_key(key) if key else None
            if existing is not None:
                self._replay(uow, domain.check_replay(existing, command))
                return existing, False
            order = domain.new_order(self._new_id(), command, now_iso())
            self._store.add(order)
            self._store.log(order.id, "place", "accepted", order.created_at)
            self._store.add_waiter(order.id, client)
            uow.emit(ev.ORDER_PLACED, _placed(order))
        log.debug("order %s: placed (broker)", order.id)  # one INFO line per order: at its end
        return order, True

    async def accept(self, command: PlaceOrder) -> tuple[Order, bool]:
        """`place` for a request over HTTP: its own unit of work, as if the command had come
        in by the broker under the request's correlation id (the terminal event's waiter)."""
        client = correlation.current() or correlation.new_id()
        received = Received(str(uuid.uuid4()), ev.ORDER_PLACE, client)
        work = TracedUnitOfWork(StoreUnitOfWork(self._store.messages, received), "order.place")
        placed = await self.place(command, work)
        assert placed is not None  # a fresh message id is never in the inbox
        return placed

    async def on_inventory_reserved(self, data: ev.InventoryReserved, uow: UnitOfWork) -> None:
        reserve = functools.partial(_reserved, items=data.items)
        self._react(uow, data.order_id, reserve, Hold.STOCK)

    async def on_inventory_rejected(self, data: ev.InventoryRejected, uow: UnitOfWork) -> None:
        def reject(order: Order) -> Order:
            if order.status is not Status.PENDING:
                return order
            return domain.rejected(order, Reason(data.reason), now_iso(), Compensation())

        self._react(uow, data.order_id, reject, None)

    async def on_payment_charged(self, data: ev.PaymentCharged, uow: UnitOfWork) -> None:
        def confirm(order: Order) -> Order:
            order = _reserved(order, data.items)
            if order.status is not Status.RESERVED:
                return order
            return domain.confirmed(domain.paid(order, now_iso()), now_iso())

        self._react(uow, data.order_id, confirm, Hold.MONEY)

    async def on_inventory_released(self, data: ev.InventoryReleased, uow: UnitOfWork) -> None:
        def cancel(order: Order) -> Order:
            order = _reserved(order, data.items)
            if order.status is not Status.RESERVED:
                return order
            reason = Reason(data.reason)
            return domain.cancelled(order, reason, now_iso(), Compensation())

        self._react(uow, data.order_id, cancel, None)

    def _react(
        self,
        uow: UnitOfWork,
        order_id: str,
        move: Callable[[Order], Order],
        hold: Hold | None,
    ) -> None:
        """Apply what the event says happened, which proves `hold` (if anything is held)."""
        cause = uow.message.type
        with uow:
            if uow.already_handled:
                return
            # Locked: two replicas may handle two events of one order at once (inventory's and
            # payment's); unlocked, the later save would overwrite the earlier's move.
            order = self._store.get_locked(order_id)
            if order is not None and order.style != BROKER:
                raise NotBrokerStyle(
                    f"{cause} for order {order_id!r}, placed in the {order.style} style",
                    order_id=order_id,
                )
            if domain.must_give_back(order, hold):
                _void(uow, order_id, order)
                log.warning("order %s: %s voided (%s)", order_id, cause, _why(order))
                return
            assert order is not None  # an unknown order is always given back
            moved = move(order)
            if moved.status is order.status:
                return  # stale: the order is already past what this event says
            self._store.update(moved)
            self._store.log(order_id, cause, moved.status.lower(), moved.updated_at)
            if moved.is_terminal:
                for waiting in self._store.waiters(order_id):
                    _finish(uow, moved, waiting)
        level = logging.INFO if moved.is_terminal else logging.DEBUG  # INFO: the order's end
        log.log(level, "order %s: %s -> %s", order_id, cause, moved.status)
        self._on_saved(moved)

    def _replay(self, uow: UnitOfWork, existing: Order) -> None:
        """A retried command (the same idempotency key) is answered under its own correlation
        id: at once if the order is finished, else together with the first client."""
        if existing.is_terminal:
            _finish(uow, existing, uow.message.correlation_id)
        else:
            self._store.add_waiter(existing.id, uow.message.correlation_id)


class NotBrokerStyle(Conflict):
    """The order is driven by the orchestrated saga of its own style, never by events."""

    code = "NOT_BROKER_STYLE"


def _void(uow: UnitOfWork, order_id: str, order: Order | None) -> None:
    """The order's one order.voided: its id is derived from the order, so however many events
    cause it, inventory and payment give back once (their inboxes keep the first)."""
    detail = f"caused by {uow.message.type}"
    voided = ev.OrderVoided(order_id=order_id, reason=_why(order), detail=detail)
    uow.emit(ev.ORDER_VOIDED, voided, event_id=derived_id(order_id, ev.ORDER_VOIDED))


def _why(order: Order | None) -> ev.VoidReason:
    return "UNKNOWN_ORDER" if order is None else VOID_REASON[order.status]


def _reserved(order: Order, items: list[ev.PricedItem]) -> Order:
    if order.status is not Status.PENDING:
        return order
    priced = tuple(OrderLine(i.sku, i.quantity, i.unit_price_cents) for i in items)
    return domain.reserved(order, priced, now_iso())


def _placed(order: Order) -> ev.OrderPlaced:
    return ev.OrderPlaced(
        order_id=order.id,
        customer_id=order.customer_id,
        items=[ev.Item(sku=line.sku, quantity=line.quantity) for line in order.lines],
        payment_token=order.payment_token,
    )


def _finish(uow: UnitOfWork, order: Order, correlation_id: str) -> None:
    """The order's terminal event for one waiting client. Its id is derived from the order, so
    every client's copy is the same event: notification's inbox keeps one, each client gets its
    own (matched by correlation id)."""
    kind = FINISHED_EVENT[order.status]
    finished = ev.OrderFinished.model_validate(
        {"order": domain.document(order), "callback_url": order.callback_url}
    )
    uow.emit(kind, finished, correlation_id=correlation_id, event_id=derived_id(order.id, kind))
