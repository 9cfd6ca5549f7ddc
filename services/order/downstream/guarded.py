"""Inventory and payment clients behind their service's guard (services/kernel/resilience): the
same bulkhead, breaker and retries whichever style the call travels in. Every one of these calls
carries the order id as its idempotency key, which is what makes retrying them safe."""

from __future__ import annotations

from services.kernel.contracts import Line
from services.kernel.resilience.guard import Guard
from services.order.domain import OrderLine
from services.order.downstream.interfaces import ChargeResult, Inventory, Payment


class GuardedInventory:
    def __init__(self, inner: Inventory, guard: Guard) -> None:
        self._inner = inner
        self._guard = guard

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        return await self._guard.call("reserve", lambda: self._inner.reserve(order_id, lines))

    async def release(self, order_id: str) -> None:
        await self._guard.call("release", lambda: self._inner.release(order_id))


class GuardedPayment:
    def __init__(self, inner: Payment, guard: Guard) -> None:
        self._inner = inner
        self._guard = guard

    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult:
        return await self._guard.call(
            "charge", lambda: self._inner.charge(order_id, customer_id, amount_cents, token)
        )

    async def refund(self, order_id: str) -> None:
        await self._guard.call("refund", lambda: self._inner.refund(order_id))
