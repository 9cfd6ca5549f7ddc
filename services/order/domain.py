"""Order rules: the place-order command, the state machine and the saga's decisions (no I/O)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from services.kernel.contracts import (
    LOOPBACK_HOSTS,
    Line,
    check_callback_url,
    check_identifier,
    check_lines,
    check_payment_token,
    identifier_pattern,
)
from services.kernel.errors import Conflict, InvalidRequest, Rejected

MAX_IDEMPOTENCY_KEY: Final = 255
# An identifier's rule with a longer limit (clients often send a UUID or a request hash).
IDEMPOTENCY_KEY_PATTERN: Final = identifier_pattern(MAX_IDEMPOTENCY_KEY)
_IDEMPOTENCY_KEY: Final = re.compile(IDEMPOTENCY_KEY_PATTERN)
UNKNOWN_SKU_DETAIL: Final = "the order names a SKU that the catalog does not know"


class Status(StrEnum):
    PENDING = "PENDING"
    RESERVED = "RESERVED"
    PAID = "PAID"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class Reason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    UNKNOWN_SKU = "UNKNOWN_SKU"
    INVENTORY_UNAVAILABLE = "INVENTORY_UNAVAILABLE"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_FAILED = "PAYMENT_FAILED"


class SagaState(StrEnum):
    """Where the saga is, apart from what the customer sees in `Status`.

    RUNNING: moving forward. COMPENSATING: the outcome is decided (REJECTED or CANCELLED) but
    stock and/or money still have to be given back. DONE: nothing left to do.
    """

    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    DONE = "DONE"


TERMINAL: Final = frozenset({Status.CONFIRMED, Status.REJECTED, Status.CANCELLED})

_ALLOWED: Final[dict[Status, frozenset[Status]]] = {
    Status.PENDING: frozenset({Status.RESERVED, Status.REJECTED}),
    Status.RESERVED: frozenset({Status.PAID, Status.CANCELLED}),
    Status.PAID: frozenset({Status.CONFIRMED}),
}


class IllegalTransition(Exception):
    """A bug, not a user error: the saga tried to move an order where the state machine forbids."""


class IdempotencyMismatch(Conflict):
    code = "IDEMPOTENCY_MISMATCH"


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int | None = None  # known once inventory has priced the reservation


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    lines: tuple[Line, ...]
    payment_token: str
    idempotency_key: str | None = None
    style: str = "rest"  # the style it came in through; the saga calls downstream in the same
    callback_url: str | None = None  # told the final order by a webhook (services/notification)

    def validate(self, callback_hosts: frozenset[str] = LOOPBACK_HOSTS) -> None:
        """`callback_hosts`: the hosts a callback URL may name (the configured allow-list)."""
        check_identifier("customer_id", self.customer_id)
        if self.callback_url is not None:
            check_callback_url(self.callback_url, callback_hosts)
        check_lines(self.lines)
        check_payment_token(self.payment_token)
        key = self.idempotency_key
        if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidRequest(
                f"idempotency key must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters"
                " (spaces only inside)",
                field="idempotency_key",
            )

    def fingerprint(self) -> str:
        """Identifies the request body, so a reused key with a different body is caught."""
        canonical: dict[str, object] = {
            "customer_id": self.customer_id,
            "items": sorted([line.sku, line.quantity] for line in self.lines),
            "payment_token": self.payment_token,
        }
        if self.callback_url is not None:  # absent otherwise: earlier fingerprints still match
            canonical["callback_url"] = self.callback_url
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


class Hold(StrEnum):
    """What an event from another service proves it holds for an order."""

    STOCK = "STOCK"  # units reserved
    MONEY = "MONEY"  # a charge taken (after the stock)


# The holds an order's outcome rules out: REJECTED is inventory's refusal (nothing reserved, no
# charge); CANCELLED gave the stock back after the card was declined (or refunded the charge).
_RULED_OUT: Final[dict[Status, frozenset[Hold]]] = {
    Status.REJECTED: frozenset({Hold.STOCK, Hold.MONEY}),
    Status.CANCELLED: frozenset({Hold.MONEY}),
}


def must_give_back(order: Order | None, hold: Hold | None) -> bool:
    """Whether an event proving `hold` must be compensated rather than applied: its order was
    never placed here (unknown: whatever it proves is void), or its outcome rules the hold out.
    Giving back is idempotent downstream, so saying so twice costs nothing; a CONFIRMED or
    in-flight order is never compensated here."""
    if order is None:
        return True
    return hold is not None and hold in _RULED_OUT.get(order.status, frozenset())


@dataclass(frozen=True)
class Compensation:
    """What must still be undone before a failed saga is finished."""

    release_stock: bool = False
    refund_payment: bool = False

    @property
    def pending(self) -> bool:
        return self.release_stock or self.refund_payment


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str
    status: Status
    reason: Reason | None
    lines: tuple[OrderLine, ...]
    payment_token: str
    created_at: str
    updated_at: str
    saga: SagaState = SagaState.RUNNING
    compensation: Compensation = Compensation()
    idempotency_key: str | None = None
    fingerprint: str = ""
    style: str = "rest"
    callback_url: str | None = None

    @property
    def total_cents(self) -> int | None:
        if any(line.unit_price_cents is None for line in self.lines):
            return None
        return sum(line.quantity * (line.unit_price_cents or 0) for line in self.lines)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def names_unknown_sku(self) -> bool:
        """Rejected for a SKU the catalog does not know: the client's mistake, not an outcome
        (see `answer`)."""
        return self.reason is Reason.UNKNOWN_SKU


def new_order(order_id: str, command: PlaceOrder, now: str) -> Order:
    return Order(
        id=order_id,
        customer_id=command.customer_id,
        status=Status.PENDING,
        reason=None,
        lines=tuple(OrderLine(line.sku, line.quantity) for line in command.lines),
        payment_token=command.payment_token,
        created_at=now,
        updated_at=now,
        idempotency_key=command.idempotency_key,
        fingerprint=command.fingerprint(),
        style=command.style,
        callback_url=command.callback_url,
    )


def check_replay(existing: Order, command: PlaceOrder) -> Order:
    if existing.fingerprint != command.fingerprint():
        raise IdempotencyMismatch(
            "this Idempotency-Key was already used with a different request",
            order_id=existing.id,
        )
    return existing


def transition(order: Order, status: Status, now: str, reason: Reason | None = None) -> Order:
    if status not in _ALLOWED.get(order.status, frozenset()):
        raise IllegalTransition(f"order {order.id}: {order.status} -> {status} is not allowed")
    return replace(order, status=status, reason=reason, updated_at=now)


def reserved(order: Order, priced: tuple[OrderLine, ...], now: str) -> Order:
    """Take the catalog prices that inventory reserved at; the client's view of price is ignored."""
    return replace(transition(order, Status.RESERVED, now), lines=priced)


def paid(order: Order, now: str) -> Order:
    return transition(order, Status.PAID, now)


def confirmed(order: Order, now: str) -> Order:
    return replace(transition(order, Status.CONFIRMED, now), saga=SagaState.DONE)


def rejected(order: Order, reason: Reason, now: str, compensation: Compensation) -> Order:
    """Stock could not be reserved. If the outcome of the reserve call is unknown, release it."""
    return _failed(transition(order, Status.REJECTED, now, reason), compensation)


def cancelled(order: Order, reason: Reason, now: str, compensation: Compensation) -> Order:
    """Payment did not go through after stock was reserved: give back what may have been taken."""
    return _failed(transition(order, Status.CANCELLED, now, reason), compensation)


def compensated(order: Order, now: str, compensation: Compensation) -> Order:
    """Record progress of the compensation; the saga is done once nothing is pending."""
    saga = SagaState.COMPENSATING if compensation.pending else SagaState.DONE
    return replace(order, compensation=compensation, saga=saga, updated_at=now)


def _failed(order: Order, compensation: Compensation) -> Order:
    saga = SagaState.COMPENSATING if compensation.pending else SagaState.DONE
    return replace(order, saga=saga, compensation=compensation)


def document(order: Order) -> dict[str, Any]:
    """The shared order shape (docs/architecture.md §2), as every style shows it."""
    return {
        "id": order.id,
        "customer_id": order.customer_id,
        "status": order.status.value,
        "reason": order.reason.value if order.reason else None,
        "items": [
            {"sku": line.sku, "quantity": line.quantity, "unit_price_cents": line.unit_price_cents}
            for line in order.lines
        ],
        "total_cents": order.total_cents,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


class UnknownSku(Rejected):
    """The order names a SKU the catalog does not know. The order is recorded (REJECTED/
    UNKNOWN_SKU) all the same, and comes with the error: every style answers it as bad input."""

    code = "UNKNOWN_SKU"

    def __init__(self, order: Order) -> None:
        super().__init__(UNKNOWN_SKU_DETAIL, order=document(order))
        self.order = order


def answer(order: Order) -> Order:
    """What placing an order answers once its saga has gone as far as it can: the order, or
    UnknownSku for one rejected for a SKU the catalog does not know (decided here, once, for
    every style; each adapter maps the error through its protocol's error map)."""
    if order.names_unknown_sku:
        raise UnknownSku(order)
    return order
