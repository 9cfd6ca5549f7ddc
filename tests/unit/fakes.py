"""In-memory fakes of the order service's downstream ports, for saga unit tests.

They keep the semantics the real services promise (idempotent per order id, release/refund before
the call they undo), so a saga test exercises the same contracts the e2e tests check for real.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.kernel.contracts import TOKEN_APPROVES, Line
from services.kernel.errors import DownstreamUnavailable, NotSent
from services.order.domain import Order, OrderLine
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeResult,
    ChargeStatus,
    NotificationRefused,
    RefusalReason,
    ReservationRefused,
)


@dataclass
class Outage:
    """Makes the next `calls` calls fail as if the service were unreachable, or, with
    `never_sent`, as if the caller's breaker or bulkhead had refused them before they left."""

    calls: int = 0
    never_sent: bool = False

    def trip(self) -> bool:
        if self.calls <= 0:
            return False
        self.calls -= 1
        return True

    def error(self, service: str, operation: str) -> DownstreamUnavailable:
        kind = NotSent if self.never_sent else DownstreamUnavailable
        return kind(service, operation, "fake outage")


@dataclass
class FakeInventory:
    stock: dict[str, int]
    prices: dict[str, int]
    reserved: dict[str, tuple[Line, ...]] = field(default_factory=dict)
    released: set[str] = field(default_factory=set)
    outage: Outage = field(default_factory=Outage)
    release_outage: Outage = field(default_factory=Outage)
    lose_answer_once: bool = False
    calls: list[str] = field(default_factory=list)

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        self.calls.append(f"reserve:{order_id}")
        if self.outage.trip():
            raise self.outage.error("inventory", "reserve")
        if order_id in self.released:
            raise DownstreamUnavailable("inventory", "reserve", "HTTP 409 RESERVATION_RELEASED")
        if order_id not in self.reserved:
            self._take(order_id, lines)
        if self.lose_answer_once:
            self.lose_answer_once = False
            raise DownstreamUnavailable("inventory", "reserve", "answer lost after reserving")
        return tuple(
            OrderLine(line.sku, line.quantity, self.prices[line.sku])
            for line in self.reserved[order_id]
        )

    def _take(self, order_id: str, lines: tuple[Line, ...]) -> None:
        unknown = [line.sku for line in lines if line.sku not in self.stock]
        if unknown:
            raise ReservationRefused(RefusalReason.UNKNOWN_SKU, f"unknown {unknown}")
        if any(self.stock[line.sku] < line.quantity for line in lines):
            raise ReservationRefused(RefusalReason.OUT_OF_STOCK, "short")
        for line in lines:
            self.stock[line.sku] -= line.quantity
        self.reserved[order_id] = lines

    async def release(self, order_id: str) -> None:
        self.calls.append(f"release:{order_id}")
        if self.outage.trip() or self.release_outage.trip():
            raise DownstreamUnavailable("inventory", "release", "fake outage")
        if order_id in self.reserved and order_id not in self.released:
            for line in self.reserved[order_id]:
                self.stock[line.sku] += line.quantity
        self.released.add(order_id)


@dataclass
class FakePayment:
    charges: dict[str, ChargeStatus] = field(default_factory=dict)
    voided: set[str] = field(default_factory=set)
    outage: Outage = field(default_factory=Outage)
    lose_answer_once: bool = False
    calls: list[str] = field(default_factory=list)

    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult:
        self.calls.append(f"charge:{order_id}:{amount_cents}")
        if self.outage.trip():
            raise self.outage.error("payment", "charge")
        if order_id in self.voided:
            raise ChargeRefused("voided")
        if order_id not in self.charges:
            approved = token == TOKEN_APPROVES
            self.charges[order_id] = ChargeStatus.CHARGED if approved else ChargeStatus.DECLINED
        if self.lose_answer_once:
            self.lose_answer_once = False
            raise DownstreamUnavailable("payment", "charge", "answer lost after charging")
        return ChargeResult(self.charges[order_id])

    async def refund(self, order_id: str) -> None:
        self.calls.append(f"refund:{order_id}")
        if self.outage.trip():
            raise self.outage.error("payment", "refund")
        if self.charges.get(order_id) is ChargeStatus.CHARGED:
            self.charges[order_id] = ChargeStatus.REFUNDED
        elif order_id not in self.charges:
            self.voided.add(order_id)

    def charged(self) -> list[str]:
        return [o for o, s in self.charges.items() if s is ChargeStatus.CHARGED]


@dataclass
class FakeNotifier:
    """Records what it was sent; `broken` fails as an unreachable service, `refusing` as one
    that answers 4xx. (Deduplication is the real service's: tests/integration.)"""

    sent: list[tuple[str, str]] = field(default_factory=list)
    broken: bool = False
    refusing: bool = False
    attempts: int = 0

    async def notify(self, order: Order) -> None:
        self.attempts += 1
        if self.broken:
            raise DownstreamUnavailable("notification", "notify", "fake outage")
        if self.refusing:
            raise NotificationRefused("HTTP 409: fake conflict")
        self.sent.append((order.id, order.status.value))
