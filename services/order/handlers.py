"""Order use cases: the only entry into the order domain, shared by every adapter.

Placing an order records it (PENDING) and runs its saga in a task of its own, shielded from the
caller: a client that disconnects or times out does not leave a saga half-way. A retry with the
same idempotency key joins the saga already in flight, or returns its recorded outcome.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from services.kernel import correlation
from services.kernel.clock import now_iso
from services.kernel.errors import NotFound
from services.order import domain
from services.order.domain import Order, PlaceOrder
from services.order.saga import Saga
from services.order.store import LogEntry, OrderStore

log = logging.getLogger(__name__)
MAX_LISTED = 100


class OrderHandlers:
    def __init__(
        self,
        store: OrderStore,
        saga: Saga,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._saga = saga
        self._new_id = new_id
        self._in_flight: dict[str, asyncio.Task[Order]] = {}

    async def place_order(self, command: PlaceOrder) -> tuple[Order, bool]:
        """Returns the order once its saga has gone as far as it can, and whether it is new."""
        command.validate()
        with self._store.transaction():
            key = command.idempotency_key
            existing = self._store.by_idempotency_key(key) if key else None
            if existing is None:
                order = domain.new_order(self._new_id(), command, now_iso())
                self._store.add(order)
                self._store.log(order.id, "place", "accepted", order.created_at)
        if existing is not None:
            domain.check_replay(existing, command)
            correlation.bind_order(existing.id)
            return await self._join(existing), False
        correlation.bind_order(order.id)
        return await self._drive(order), True

    async def get_order(self, order_id: str) -> Order:
        order = self._store.get(order_id)
        if order is None:
            raise NotFound(f"no order with id {order_id!r}", order_id=order_id)
        return order

    async def list_orders(self, customer_id: str) -> list[Order]:
        return self._store.for_customer(customer_id, MAX_LISTED)

    async def saga_log(self, order_id: str) -> list[LogEntry]:
        await self.get_order(order_id)
        return self._store.history(order_id)

    async def recover(self) -> int:
        """Drive every unfinished saga that no task of this process is driving (after a crash,
        or when a compensation had to wait for a service to come back). Returns how many."""
        orphans = [o for o in self._store.unfinished() if o.id not in self._in_flight]
        results = await asyncio.gather(*(self._drive(o) for o in orphans), return_exceptions=True)
        for order, result in zip(orphans, results, strict=True):
            if isinstance(result, BaseException):
                log.error("recovery of order %s failed: %r", order.id, result)
        return len(orphans)

    async def is_ready(self) -> dict[str, bool]:
        return {"database": self._store.is_reachable()}

    async def _join(self, existing: Order) -> Order:
        task = self._in_flight.get(existing.id)
        return existing if task is None else await asyncio.shield(task)

    async def _drive(self, order: Order) -> Order:
        task = self._in_flight.get(order.id)
        if task is None:
            task = asyncio.create_task(self._saga.advance(order), name=f"saga-{order.id}")
            self._in_flight[order.id] = task
            task.add_done_callback(lambda _: self._in_flight.pop(order.id, None))
        return await asyncio.shield(task)
