"""Live order updates inside the order process, for the styles that push them to clients.

The saga publishes every saved change; gRPC `WatchOrder`, the GraphQL subscription and the
WebSocket `order.updated` notifications each follow one order through here. Watchers that fall
behind never slow the saga down: each has a bounded queue, and the oldest update is dropped
first (a watcher still ends on the terminal state, which is always the last update published).
The store numbers each order's statuses (`StatusChange`), for the streams that must resume.

Bounded cost: a watcher lives as long as its client keeps a stream, a long poll or a socket
open, and no one connection bounds how many there are; so one process has at most
`max_watchers` (ORDERFLOW_MAX_WATCHERS) at once, and one more is refused with
`TooManyWatchers` before anything is done. An adapter that must know there is room before it
acts (a WebSocket `place_order` pushes its order's updates; an event stream answers 200 before
its first event) takes a `Room` first and hands it to the watch.

With replicas on one PostgreSQL database, the changes another process saves arrive here too
(update_relay.py), late, twice or after a newer one: `follow` moves only forward.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from services.kernel.config import DEFAULT_MAX_WATCHERS
from services.kernel.errors import Overloaded
from services.order.domain import Order, Reason, Status

QUEUE_SIZE = 16
# How far along the state machine (domain._ALLOWED) a status is: every transition moves forward,
# so an update that does not is one a watcher already has (a duplicate, or one relayed late).
PROGRESS: Final[Mapping[Status, int]] = {
    Status.PENDING: 0,
    Status.RESERVED: 1,
    Status.PAID: 2,
    Status.CONFIRMED: 3,
    Status.REJECTED: 3,
    Status.CANCELLED: 3,
}


@dataclass(frozen=True)
class StatusChange:
    """One status an order reached: `seq` counts the order's statuses from 1 (PENDING)."""

    order_id: str
    seq: int
    status: Status
    reason: Reason | None
    at: str


class TooManyWatchers(Overloaded):
    """One more watcher while the process has `max_watchers`: refused before the watch starts
    (and, for a WebSocket `place_order`, before the order is recorded)."""

    code = "TOO_MANY_WATCHERS"


class Room:
    """Room for one watcher, kept from `OrderUpdates.room()` until released (once; releasing
    again does nothing, so every way a watch can end may release it)."""

    def __init__(self, updates: OrderUpdates) -> None:
        self._updates: OrderUpdates | None = updates

    @property
    def kept(self) -> bool:
        return self._updates is not None

    def release(self) -> None:
        if self._updates is not None:
            self._updates.rooms_taken -= 1
            self._updates = None


class OrderUpdates:
    def __init__(self, max_watchers: int = DEFAULT_MAX_WATCHERS) -> None:
        self._watchers: defaultdict[str, set[asyncio.Queue[Order]]] = defaultdict(set)
        self.max_watchers = max_watchers
        self.rooms_taken = 0  # watchers now, and rooms kept for watchers about to start

    def room(self) -> Room:
        """Room for one watcher; raises TooManyWatchers when the process has none left."""
        if self.rooms_taken >= self.max_watchers:
            raise TooManyWatchers(
                "this process already follows as many orders for clients as it may "
                f"({self.max_watchers}); retry later",
                limit=self.max_watchers,
            )
        self.rooms_taken += 1
        return Room(self)

    def publish(self, order: Order) -> None:
        for queue in self._watchers.get(order.id, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(order)

    def watching(self, order_id: str) -> bool:
        return order_id in self._watchers

    def watched(self) -> list[str]:
        """The ids someone follows now (a copy: watchers come and go while it is used)."""
        return list(self._watchers)

    @contextlib.contextmanager
    def watch(self, order_id: str, room: Room | None = None) -> Iterator[asyncio.Queue[Order]]:
        """A queue that receives every change of the order while the block runs, in `room`
        (released when the block ends) or in one taken now (TooManyWatchers if none is left)."""
        room = room or self.room()
        if not room.kept:  # its holder gave it up: a watch in it would be counted nowhere
            raise RuntimeError("a room given back cannot hold a watch")
        queue: asyncio.Queue[Order] = asyncio.Queue(QUEUE_SIZE)
        self._watchers[order_id].add(queue)
        try:
            yield queue
        finally:
            room.release()
            watchers = self._watchers[order_id]
            watchers.discard(queue)
            if not watchers:
                del self._watchers[order_id]


async def follow(first: Order, queue: asyncio.Queue[Order]) -> AsyncIterator[Order]:
    """`first`, then each later status from `queue`, ending after a terminal status."""
    last = first
    yield first
    while not last.is_terminal:
        update = await queue.get()
        if PROGRESS[update.status] > PROGRESS[last.status]:
            last = update
            yield update
