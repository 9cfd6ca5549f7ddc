"""Live updates across order replicas on one PostgreSQL database, by LISTEN/NOTIFY.

Each replica's saga and choreography publish the changes they save to that replica's watchers
(updates.py); a client may follow the order from another replica. So the store announces every
status it saves on CHANNEL, in the transaction that saves it (`OrderStore.announce_changes`:
NOTIFY is sent at commit, when the change is readable, or never), as `<origin> <seq> <order id>`.
Every replica listens on a connection of its own, with psycopg's asynchronous connection (the
loop waits on its socket, never blocks on it), and for an order it has watchers for reads the
statuses from `seq` on and publishes each (the current order with that status) to them: every
status reaches them, as the local saga's would, not only the latest.

Bounded cost: a notification about an order nobody here watches costs its parse and a lookup;
one this replica sent itself is dropped (its saga published it already); notifications that
arrive together are read once per order.

The connection can drop (a restart of the server, a network cut, pg_terminate_backend); the
relay reconnects with back-off, and notifications sent meanwhile are lost. So after each LISTEN
it reads every watched order again from its first status: `follow` keeps only what a watcher
lacks, and none waits forever for a final status it missed. A connection that died silently is
found by a probe when nothing arrived for LIVENESS_S.

With SQLite (one process) there are no replicas: no relay runs and the store announces nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from typing import Final

import psycopg

from services.order.store import OrderStore
from services.order.updates import OrderUpdates

CHANNEL: Final = "orderflow_order_status"
APPLICATION_NAME: Final = "orderflow order relay"  # and the replica's origin, to tell them apart
RECONNECT_MIN_S: Final = 0.1
RECONNECT_MAX_S: Final = 5.0
LIVENESS_S: Final = 10.0
CONNECT_TIMEOUT_S: Final = 10
log = logging.getLogger(__name__)


class UpdateRelay:
    def __init__(
        self, url: str, store: OrderStore, updates: OrderUpdates, origin: str | None = None
    ) -> None:
        self._url = url
        self._store = store
        self._updates = updates
        self.origin = origin or uuid.uuid4().hex[:12]
        self.application_name = f"{APPLICATION_NAME} {self.origin}"
        self.connected = asyncio.Event()  # set while listening (tests wait on it)
        self.connections = 0  # how many times it has started listening
        self._pending: dict[str, int] = {}  # order id -> lowest seq announced, not yet read
        store.announce_changes(CHANNEL, self.origin)

    async def run(self) -> None:
        """Listen until cancelled, connecting again whenever the connection fails."""
        delay = RECONNECT_MIN_S
        while True:
            before = self.connections
            try:
                await self._listen()
            except (psycopg.Error, OSError, TimeoutError) as error:
                log.warning("live-update relay: %s; listening again soon", error)
            except Exception:  # a bug must not end live updates for good either
                log.exception("live-update relay failed; listening again soon")
            finally:
                self.connected.clear()
            # Back off while connecting fails; after a connection that worked, from the start.
            delay = (
                RECONNECT_MIN_S if self.connections > before else min(2 * delay, RECONNECT_MAX_S)
            )
            await asyncio.sleep(delay)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            application_name=self.application_name,
            connect_timeout=CONNECT_TIMEOUT_S,
        ) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            self.connections += 1
            self.connected.set()
            self._resync()  # what was announced while no connection listened is lost
            while True:
                async for notify in connection.notifies(timeout=LIVENESS_S):
                    self.received(notify.payload)
                async with asyncio.timeout(LIVENESS_S):  # quiet: is the connection alive?
                    await connection.execute("SELECT 1")

    def received(self, payload: str) -> None:
        """One announcement: kept for reading if a watcher here follows that order."""
        origin, _, rest = payload.partition(" ")
        seq, _, order_id = rest.partition(" ")
        if origin == self.origin or not self._updates.watching(order_id) or not seq.isdigit():
            return
        if not self._pending:  # the first of a burst: read once the loop has taken the rest
            asyncio.get_running_loop().call_soon(self._deliver)
        self._pending[order_id] = min(int(seq), self._pending.get(order_id, int(seq)))

    def _resync(self) -> None:
        for order_id in self._updates.watched():
            self._pending[order_id] = 1
        self._deliver()

    def _deliver(self) -> None:
        pending, self._pending = self._pending, {}
        for order_id, seq in pending.items():
            try:
                self._publish(order_id, seq)
            except Exception:  # the store's own connection failed: the next change retries
                log.exception("live-update relay: cannot read order %s", order_id)

    def _publish(self, order_id: str, seq: int) -> None:
        """The order's statuses from `seq` on, each as the order with that status (its other
        fields as they are now), to this replica's watchers, oldest first."""
        if not self._updates.watching(order_id):
            return
        order = self._store.get(order_id)
        if order is None:
            return
        for change in self._store.status_changes(order_id, after=seq - 1):
            then = dataclasses.replace(
                order, status=change.status, reason=change.reason, updated_at=change.at
            )
            self._updates.publish(then)
