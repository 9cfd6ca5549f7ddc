"""Live order updates inside the order process, for the styles that push them to clients.

The saga publishes every saved change; gRPC `WatchOrder`, the GraphQL subscription and the
WebSocket `order.updated` notifications each follow one order through here. Watchers that fall
behind never slow the saga down: each has a bounded queue, and the oldest update is dropped
first (a watcher still ends on the terminal state, which is always the last update published).
The store numbers each order's statuses (`StatusChange`), for the streams that must resume.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from services.order.domain import Order, Reason, Status

QUEUE_SIZE = 16


@dataclass(frozen=True)
class StatusChange:
    """One status an order reached: `seq` counts the order's statuses from 1 (PENDING)."""

    order_id: str
    seq: int
    status: Status
    reason: Reason | None
    at: str


class OrderUpdates:
    def __init__(self) -> None:
        self._watchers: defaultdict[str, set[asyncio.Queue[Order]]] = defaultdict(set)

    def publish(self, order: Order) -> None:
        for queue in self._watchers.get(order.id, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(order)

    @contextlib.contextmanager
    def watch(self, order_id: str) -> Iterator[asyncio.Queue[Order]]:
        """A queue that receives every change of the order while the block runs."""
        queue: asyncio.Queue[Order] = asyncio.Queue(QUEUE_SIZE)
        self._watchers[order_id].add(queue)
        try:
            yield queue
        finally:
            watchers = self._watchers[order_id]
            watchers.discard(queue)
            if not watchers:
                del self._watchers[order_id]


async def follow(first: Order, queue: asyncio.Queue[Order]) -> AsyncIterator[Order]:
    """`first`, then each change of status from `queue`, ending after a terminal status."""
    last = first
    yield first
    while not last.is_terminal:
        update = await queue.get()
        if update.status is not last.status:
            last = update
            yield update
