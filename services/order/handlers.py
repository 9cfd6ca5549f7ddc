"""Order use cases: the only entry into the order domain, shared by every adapter.

Placing an order records it (PENDING) and runs its saga in a task of its own, shielded from the
caller: a client that disconnects or times out does not leave a saga half-way. A retry with the
same idempotency key joins the saga already in flight, or drives an unfinished one itself (after
a restart, before recovery reaches it), and answers as far as the saga can go now, as the first
call would; it returns a finished order's recorded outcome. One task per order runs its saga in
this process (`_in_flight`), so a retry, another retry and recovery never run it twice at once;
across replicas on one database, the saga's claim on the order (store.py) does the same: a saga
starts only where its order is claimed, and a retry reaching another replica waits for the one
driving it (or takes the order over once that one's lease lapsed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection
from dataclasses import dataclass

from services.kernel import correlation, styles, tracing
from services.kernel.clock import now_iso
from services.kernel.config import DEFAULT_MAX_SAGAS_IN_FLIGHT
from services.kernel.contracts import LOOPBACK_HOSTS, check_identifier
from services.kernel.errors import (
    DownstreamUnavailable,
    InvalidRequest,
    NotFound,
    Overloaded,
)
from services.kernel.faults import OPERATIONS, Faults
from services.kernel.lease import gone_from_this_host
from services.kernel.paging import FIRST_PAGE, Page, Paged, paged
from services.order import domain
from services.order.domain import Order, PlaceOrder, SagaState
from services.order.downstream.interfaces import Catalog, Product
from services.order.saga import Saga
from services.order.store import AuditedOrder, ClaimLost, LogEntry, OrderStore
from services.order.updates import Room, StatusChange, follow

log = logging.getLogger(__name__)
MAX_LISTED = 100
# Sagas that recovery drives at once. It shares the downstream services (and, in the resilient
# profile, their bulkheads) with live orders: after an outage thousands may wait, and driving
# them all at once would crowd live orders out, and the bulkhead turn most of them away again.
RECOVERY_CONCURRENCY = 8
# How often a status stream reads the store when no live update woke it.
RECHECK_S = 5.0
# How often a retry looks again at an order another replica is driving.
ELSEWHERE_POLL_S = 0.1


class TooManySagas(Overloaded):
    """An order to accept at once while this process drives as many sagas as it may
    (ORDERFLOW_MAX_SAGAS_IN_FLIGHT): refused before anything is recorded; the same request
    succeeds once some have ended. Such a saga runs on after its request has ended, so no
    connection bounds how many a client can start: a stranger posting in a loop would otherwise
    grow the process's tasks, memory and downstream calls without end. A synchronous place holds
    its request open for its saga: its client's connections bound it, as for every other call."""

    code = "TOO_MANY_ORDERS_IN_FLIGHT"


@dataclass(frozen=True)
class OrderAudit:
    """What a check across the services' stores reads of orders (after a run, not under load)."""

    orders: Paged[AuditedOrder]
    confirmed_units: dict[str, int]  # per SKU, over the lines of the page's CONFIRMED orders


class OrderHandlers:
    def __init__(
        self,
        store: OrderStore,
        saga: Saga,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        catalog: Catalog | None = None,
        faults: Faults | None = None,
        callback_hosts: frozenset[str] = LOOPBACK_HOSTS,
        max_sagas_in_flight: int = DEFAULT_MAX_SAGAS_IN_FLIGHT,
    ) -> None:
        self._store = store
        self._max_sagas_in_flight = max_sagas_in_flight
        self._accepting = 0  # accepts between their check and their saga's start
        self._saga = saga
        self._callback_hosts = callback_hosts
        self._new_id = new_id
        self._catalog = catalog
        self._faults = faults or Faults(OPERATIONS["order"])
        self._in_flight: dict[str, asyncio.Task[Order]] = {}

    async def place_order(
        self, command: PlaceOrder, on_accepted: Callable[[Order], object] | None = None
    ) -> tuple[Order, bool]:
        """Returns the order once its saga has gone as far as it can, and whether it is new;
        raises UnknownSku (carrying the recorded order) for a SKU the catalog does not know.

        `on_accepted` is told the order (new or replayed) before the saga is awaited, so a
        pushing adapter can start following it (`watch_order`) without missing a change."""
        order, created = await self._recorded(command)
        if on_accepted:
            on_accepted(order)
        return domain.answer(await self._drive(order, first_run=created)), created

    def _accept(self, command: PlaceOrder) -> tuple[Order, bool]:
        """Inside the caller's transaction: the order placed before under this idempotency key
        (False), or a new one, recorded (True). Two processes placing one key at once: the
        key's unique index refuses the second, which runs again and finds the first."""
        key = command.idempotency_key
        existing = self._store.by_idempotency_key(key) if key else None
        if existing is not None:
            return existing, False
        order = domain.new_order(self._new_id(), command, now_iso())
        self._store.add(order, self._saga.lease)  # claimed for the saga this process starts
        self._store.log(order.id, "place", "accepted", order.created_at)
        return order, True

    async def accept_order(self, command: PlaceOrder) -> tuple[Order, bool]:
        """`place_order` answered at once: the order is recorded and its saga started, not
        awaited (REST's `Prefer: respond-async, flow=orchestrated`); the client follows it on
        the status stream. An unknown SKU is no error here: the order ends REJECTED/UNKNOWN_SKU
        on the stream, as the choreography's 202 does. Raises TooManySagas, before recording
        anything, while this process drives `max_sagas_in_flight` sagas."""
        if len(self._in_flight) + self._accepting >= self._max_sagas_in_flight:
            raise TooManySagas(
                f"this process already drives {self._max_sagas_in_flight} orders; retry later",
                limit=self._max_sagas_in_flight,
            )
        self._accepting += 1  # counted from here: concurrent accepts cannot all pass the check
        try:
            order, created = await self._recorded(command)
            self._start(order, first_run=created)  # a replay finishes what a crash may have left
        finally:
            self._accepting -= 1
        return order, created

    async def _recorded(self, command: PlaceOrder) -> tuple[Order, bool]:
        """Placing's first part in every way of placing: the order recorded under its
        idempotency key in one transaction (new: True), or the one placed before, which the
        command must repeat exactly (False)."""
        await self._faults.before("order.place")
        command.validate(self._callback_hosts)
        with tracing.transaction("order.place"):
            order, created = await self._store.atomically(lambda: self._accept(command))
        if not created:
            domain.check_replay(order, command)
        correlation.bind_order(order.id)
        return order, created

    async def get_order(self, order_id: str) -> Order:
        order = self._store.get(order_id)
        if order is None:
            raise NotFound(f"no order with id {order_id!r}", order_id=order_id)
        return order

    def watch_room(self) -> Room:
        """Room for one watcher, for an adapter that must know there is some before it acts;
        raises TooManyWatchers. The watch it is handed to releases it (the caller, if none is)."""
        return self._saga.updates.room()

    async def watch_order(self, order_id: str, room: Room | None = None) -> AsyncIterator[Order]:
        """The order now, then each change of its status, ending after a terminal one.
        Raises NotFound or TooManyWatchers before yielding anything. A final order is
        answered without a watch: it takes no room, so a busy process still answers it."""
        if room is None:
            first = await self.get_order(order_id)
            if first.is_terminal:
                yield first
                return
        with self._saga.updates.watch(order_id, room) as queue:
            # Subscribed first, read second: a change between the two is queued, not lost.
            first = await self.get_order(order_id)
            async for order in follow(first, queue):
                yield order

    async def await_change(self, order_id: str, wait_s: float) -> Order:
        """Long polling: the order as soon as its status differs from the one it has now, or
        at once if that is final, or as it is after `wait_s`. Raises NotFound for an unknown id,
        and TooManyWatchers for an order not final while the process has no room for one more."""
        arrived = await self.get_order(order_id)
        if arrived.is_terminal:  # nothing to wait for, and no room taken to say so
            return arrived
        with self._saga.updates.watch(order_id) as queue:
            first = await self.get_order(order_id)  # subscribed first, read again second
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    async for order in follow(first, queue):
                        if order.status is not arrived.status:
                            return order
        return await self.get_order(order_id)

    async def status_changes(
        self, order_id: str, after: int = 0, room: Room | None = None
    ) -> AsyncGenerator[StatusChange]:
        """The order's statuses numbered above `after`, then each new one as it is saved,
        ending after a final one. Raises NotFound or TooManyWatchers (before yielding anything).

        The store is the record (numbered, in the transaction of each change); the live updates
        only say when to read it again, so a watcher's dropped update loses nothing, and a
        change made where no update is published (another process) is read within RECHECK_S."""
        with self._saga.updates.watch(order_id, room) as wake:
            await self.get_order(order_id)
            while True:
                changes = self._store.status_changes(order_id, after)
                for change in changes:
                    yield change
                    after = change.seq
                    if change.status in domain.TERMINAL:
                        return
                if not changes and await self.seen_the_end(order_id, after):
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RECHECK_S):
                        await wake.get()
                while not wake.empty():
                    wake.get_nowait()

    async def seen_the_end(self, order_id: str, after: int) -> bool:
        """Whether a client that has the order's status number `after` has its final one.
        Raises NotFound for an unknown id."""
        order = await self.get_order(order_id)
        return order.is_terminal and not self._store.status_changes(order_id, after)

    async def list_orders(self, customer_id: str) -> list[Order]:
        check_identifier("customer_id", customer_id)
        return self._store.for_customer(customer_id, MAX_LISTED)

    async def products(self, skus: Collection[str] | None = None) -> list[Product]:
        """The catalog (or these SKUs of it) as inventory has it now: one call to inventory."""
        if self._catalog is None:
            raise DownstreamUnavailable("inventory", "products", "no catalog client configured")
        return await self._catalog.products(skus)

    async def saga_log(self, order_id: str) -> list[LogEntry]:
        await self.get_order(order_id)
        return self._store.history(order_id)

    async def audit(self, style: str | None = None, page: Page = FIRST_PAGE) -> OrderAudit:
        """A page of the orders, or of those that came in by one style, and the units that the
        page's CONFIRMED orders hold (a reader adds up the pages')."""
        if style is not None and style not in styles.ALL:
            raise InvalidRequest(f"style must be one of {', '.join(styles.ALL)}", field="style")
        # Both reads with no await between: one consistent picture of the page.
        found = paged(self._store.audited(style, page), page, key=lambda row: row.id)
        if not found.rows:
            return OrderAudit(found, {})
        units = self._store.confirmed_units(style, page.after, found.rows[-1].id)
        return OrderAudit(found, units)

    def release_claims(self) -> int:
        """At start: free at once, rather than after their lease, the claims of processes known
        to be gone: this replica's id in a previous life (a stable ORDERFLOW_REPLICA_ID
        restarted), and default ids of processes of this host that no longer run (a restart).
        Returns how many."""
        mine = self._saga.lease.holder
        gone = [h for h in self._store.claim_holders() if h == mine or gone_from_this_host(h)]
        return sum(self._store.release_claims(holder) for holder in gone)

    async def recover(self) -> int:
        """Drive every unfinished saga that nobody drives (after a crash of this process or of
        another replica, or when a compensation had to wait for a service to come back): those
        no task of this process runs and no other replica holds. Returns how many it drove."""
        lease = self._saga.lease
        orphans = [o for o in self._store.unfinished(lease) if o.id not in self._in_flight]
        room = asyncio.Semaphore(RECOVERY_CONCURRENCY)

        async def drive(order: Order) -> bool:
            async with room:  # claimed only once there is room: a claim waiting here would lapse
                running = self._start(order)
                if not isinstance(running, asyncio.Task):
                    return False  # finished, or another replica claimed it first
                with contextlib.suppress(ClaimLost):  # taken over: that replica finishes it
                    await asyncio.shield(running)
                return True

        results = await asyncio.gather(*(drive(o) for o in orphans), return_exceptions=True)
        for order, result in zip(orphans, results, strict=True):
            if isinstance(result, BaseException):
                log.error("recovery of order %s failed: %r", order.id, result)
        return sum(result is True for result in results)

    async def stop(self, grace_s: float) -> None:
        """At shutdown, before the downstream clients close: give running sagas `grace_s` to
        finish, then cancel the rest where they stand. A cancelled saga keeps every step it
        saved, and the next process's recovery resumes it, as after a crash; letting it run on
        into closed clients would instead compensate calls that only the shutdown cut short."""
        running = list(self._in_flight.values())
        if not running:
            return
        _, left = await asyncio.wait(running, timeout=grace_s)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        if left:
            log.info("left %d order(s) in flight for the next start to resume", len(left))

    async def is_ready(self) -> dict[str, bool]:
        return {"database": self._store.is_reachable()}

    async def _drive(self, order: Order, first_run: bool = False) -> Order:
        """Join the task running this order's saga, or start one, and await its end; while
        another replica drives it, wait for that one's end (or take over once its lease lapsed)."""
        while True:
            running = self._start(order, first_run)
            if isinstance(running, Order):
                return running
            if running is not None:
                with contextlib.suppress(ClaimLost):  # taken over: follow the new driver
                    return await asyncio.shield(running)
            first_run = False  # from here on, another replica may have tried a step
            await asyncio.sleep(ELSEWHERE_POLL_S)

    def _start(self, order: Order, first_run: bool = False) -> asyncio.Task[Order] | Order | None:
        """The task running this order's saga (started if none is), the order as stored when
        it has no saga to run, or None while another replica drives it.

        `first_run`: this process has just recorded the order, claimed (`_accept`). Otherwise
        the claim comes first and the read second: once claimed, nobody else moves the order,
        so the saga starts from its true state (`order` may be stale: recovery's list, a
        retry's read, another replica's progress), and a saga never goes back."""
        task = self._in_flight.get(order.id)
        if task is not None:
            return task
        claimed = first_run or self._saga.claim(order.id)
        # Just recorded here, the order is as stored: no need to read it back.
        current = order if first_run else self._store.get(order.id) or order
        if not claimed:
            # Finished, a broker-style order (moved by its events only; a key can be retried in
            # any style), or driven by another replica now.
            done = current.saga is SagaState.DONE or current.style == styles.BROKER
            return current if done else None
        saga = self._saga.advance(current, first_run=first_run)
        task = asyncio.create_task(saga, name=f"saga-{order.id}")
        self._in_flight[order.id] = task
        task.add_done_callback(lambda _: self._in_flight.pop(order.id, None))
        return task
