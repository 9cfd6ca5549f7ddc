"""The transactional outbox and the processed-message inbox, kept in each service's own database.

A use case writes its effect, the id of the message it handled (inbox) and the events it emits
(outbox) in ONE transaction, its unit of work (unit_of_work.py). So a crash can never leave an
effect without its event, or handle a redelivered message twice. The relay publishes outbox rows
in order with publisher confirms and marks them published only once confirmed: a broker outage
delays events, never loses them, and a message that was published but not confirmed is
published again (consumers drop the copy).

Every replica of a service runs a relay on the one database. A relay claims the rows it is about
to publish (kernel/lease.py: a lease in the row, rows another relay holds are skipped), so two
relays never publish the same row at the same time. A relay that dies mid-publish leaves its rows
to the others once the lease lapses; those may then be published twice (once by the dead relay
before it died, unconfirmed), which is the at-least-once every consumer already absorbs: their
inboxes drop the copy.

Each row keeps the W3C trace context of the transaction that wrote it (also in the event's
`traceparent`), so the relay's publish span joins that trace however late the row is relayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pika
from opentelemetry.trace import SpanKind

from services.kernel import tracing
from services.kernel.broker.events import CONTENT_TYPE, CloudEvent
from services.kernel.broker.link import BrokerLink, BrokerUnavailable
from services.kernel.broker.topology import Topology
from services.kernel.clock import now_iso
from services.kernel.config import default_replica_id
from services.kernel.database import Database, Row
from services.kernel.lease import Lease, gone_from_this_host, skip_locked

log = logging.getLogger(__name__)

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL,  -- not unique: a retried command is answered with the same event
    type         TEXT NOT NULL,
    correlation  TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    published_at TEXT,
    traceparent  TEXT,  -- the trace context of the transaction that wrote the row
    tracestate   TEXT,
    claimed_by    TEXT,   -- the relay (replica) publishing it now, until claimed_until (epoch ms)
    claimed_until BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS inbox (
    message_id   TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    processed_at TEXT NOT NULL
);
"""
BATCH: Final = 200
IDLE_POLL_S: Final = 1.0
RETRY_BASE_S: Final = 0.5
RETRY_MAX_S: Final = 10.0
# Columns added since the first schema, for databases written before them (nullable, so adding
# one is all the migration there is).
ADDED_COLUMNS: Final = (
    ("outbox", "traceparent", "TEXT"),
    ("outbox", "tracestate", "TEXT"),
    ("outbox", "claimed_by", "TEXT"),
    ("outbox", "claimed_until", "BIGINT"),
)
_COLUMNS: Final = "seq, event_id, type, correlation, body, traceparent, tracestate"


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    event_id: str
    type: str
    correlation: str
    body: bytes
    traceparent: str | None = None
    tracestate: str | None = None


class Messages:
    """Outbox and inbox on a store's connection; called inside the store's transactions."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiters: list[asyncio.Event] = []
        for table, column, declaration in ADDED_COLUMNS:
            db.add_column(table, column, declaration)

    @property
    def database(self) -> Database:
        """The store's database: a unit of work's transaction runs on it (unit_of_work.py)."""
        return self._db

    def emit(self, event: CloudEvent) -> None:
        self._db.execute(
            "INSERT INTO outbox (event_id, type, correlation, body, created_at, traceparent,"
            " tracestate) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.id,
                event.type,
                event.correlationid,
                event.encode(),
                now_iso(),
                event.traceparent,
                event.tracestate,
            ),
        )
        for waiter in self._waiters:
            waiter.set()  # the relay runs once this transaction's synchronous code has committed

    def seen(self, message_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM inbox WHERE message_id = ?", (message_id,))
        return row.fetchone() is not None

    def record(self, message_id: str, type_: str) -> None:
        self._db.execute(
            "INSERT INTO inbox (message_id, type, processed_at) VALUES (?, ?, ?)",
            (message_id, type_, now_iso()),
        )

    def unpublished(self, limit: int = BATCH) -> list[OutboxRow]:
        """The oldest rows not published yet, claimed or not (what a test or an operator sees)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [_row(r) for r in rows]

    def claim(self, lease: Lease, limit: int = BATCH) -> list[OutboxRow]:
        """The oldest unpublished rows no other relay holds, now held by `lease` (in seq order):
        one statement, atomic by itself. The batch is picked once (a MATERIALIZED CTE: as a
        subquery, PostgreSQL may run it again for each row it updates, and the rows this very
        statement changed no longer qualify, so it would go on past the limit). The outer
        WHERE repeats the claim's condition: where a row's lock was waited for, it is judged
        as the other transaction left it."""
        free = "published_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?3)"
        rows = self._db.execute(
            f"WITH batch AS MATERIALIZED (SELECT seq FROM outbox WHERE {free} ORDER BY seq"
            f" LIMIT ?4{skip_locked(self._db)}) UPDATE outbox SET claimed_by = ?1,"
            f" claimed_until = ?2 WHERE {free} AND seq IN (SELECT seq FROM batch)"
            f" RETURNING {_COLUMNS}",
            (lease.holder, lease.until_ms(), lease.now_ms(), limit),
        ).fetchall()
        return sorted((_row(r) for r in rows), key=lambda row: row.seq)

    def mark_published(
        self, seqs: Sequence[int], unpublished: Sequence[int] = (), lease: Lease | None = None
    ) -> None:
        """In one commit: the rows the broker confirmed, and (with the `lease` that claimed
        them) the claim dropped on those it did not, which any relay may try again at once."""
        with self._db.transaction():
            self._db.executemany(
                "UPDATE outbox SET published_at = ?, claimed_by = NULL, claimed_until = NULL"
                " WHERE seq = ?",
                [(now_iso(), s) for s in seqs],
            )
            if lease is not None:
                self._release(unpublished, lease)

    def release(self, seqs: Sequence[int], lease: Lease) -> None:
        """Rows this relay could not publish: any relay may try them again, at once."""
        with self._db.transaction():
            self._release(seqs, lease)

    def _release(self, seqs: Sequence[int], lease: Lease) -> None:
        self._db.executemany(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL"
            " WHERE seq = ? AND claimed_by = ?",
            [(s, lease.holder) for s in seqs],
        )

    def void_claims_of_the_gone(self, lease: Lease) -> int:
        """At start: drop the claims of relays known to be gone (`lease`'s own id in a previous
        life, a process of this host that no longer runs) rather than wait for their lease."""
        rows = self._db.execute(
            "SELECT DISTINCT claimed_by FROM outbox WHERE claimed_by IS NOT NULL"
            " AND published_at IS NULL"
        ).fetchall()
        gone = [r[0] for r in rows if r[0] == lease.holder or gone_from_this_host(r[0])]
        with self._db.transaction():
            self._db.executemany(
                "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?",
                [(holder,) for holder in gone],
            )
        return len(gone)

    def backlog(self) -> int:
        row = self._db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return int(row.fetchone()[0])

    def waiter(self) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.append(event)
        return event


class OutboxRelay:
    """Publishes outbox rows through the link, marking each one once the broker confirmed it."""

    def __init__(
        self, messages: Messages, link: BrokerLink, topology: Topology, lease: Lease | None = None
    ) -> None:
        """`lease`: this replica's claims on the rows it publishes."""
        self._messages = messages
        self._lease = lease or Lease(default_replica_id())
        self._link = link
        self._topology = topology
        self._wake = messages.waiter()

    async def run(self) -> None:
        try:
            self._messages.void_claims_of_the_gone(self._lease)
        except Exception:  # their leases lapse by themselves
            log.exception("outbox relay could not free the claims of relays gone")
        failures = 0
        while True:
            await self._link.connected.wait()
            try:
                failures = 0 if await self._relay_once() else failures + 1
            except Exception:  # e.g. the database: say so, and keep the relay alive
                log.exception("outbox relay failed; trying again")
                failures += 1
            if failures:
                # Broker trouble (or a row it keeps refusing): back off, but never give up.
                await asyncio.sleep(min(RETRY_BASE_S * 2 ** (failures - 1), RETRY_MAX_S))

    async def _relay_once(self) -> bool:
        """Publish what is waiting; False if some of it was not confirmed."""
        rows = self._messages.claim(self._lease)
        if not rows:
            self._wake.clear()
            await _wait(self._wake, IDLE_POLL_S)
            return True
        try:
            done = await self._publish(rows)
        except BaseException:  # cancelled at shutdown: what is unconfirmed is anyone's again
            self._messages.release([row.seq for row in rows], self._lease)
            raise
        confirmed = set(done)
        failed = [row.seq for row in rows if row.seq not in confirmed]
        self._messages.mark_published(done, failed, self._lease)
        return not failed

    async def _publish(self, rows: list[OutboxRow]) -> list[int]:
        """Publish a batch in outbox order with the confirms in flight together; return the
        seqs confirmed. A row that failed is published again later, after rows behind it:
        consumers never rely on the order of events (each carries what it needs)."""
        results = await asyncio.gather(
            *(self._publish_row(row) for row in rows), return_exceptions=True
        )
        done: list[int] = []
        for row, result in zip(rows, results, strict=True):
            if not isinstance(result, BaseException):
                done.append(row.seq)
            elif not isinstance(result, BrokerUnavailable):
                log.error("outbox event %s (%s) not published: %r", row.event_id, row.type, result)
        return done

    async def _publish_row(self, row: OutboxRow) -> None:
        """One publish, in the trace of the transaction that wrote the row."""
        parent = tracing.parent(row.traceparent, row.tracestate)
        attributes = {"messaging.system": "rabbitmq", "messaging.message.id": row.event_id}
        with tracing.span(
            f"publish {row.type}", SpanKind.PRODUCER, parent_context=parent, attributes=attributes
        ):
            await self._link.publish(self._topology.events, row.type, row.body, _properties(row))


def _row(r: Row) -> OutboxRow:
    return OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6])


def _properties(row: OutboxRow) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=CONTENT_TYPE,
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=row.event_id,
        correlation_id=row.correlation,
        type=row.type,
    )


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)
