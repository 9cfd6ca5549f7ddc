"""The transactional outbox and the processed-message inbox, kept in each service's own database.

A use case writes its effect, the id of the message it handled (inbox) and the events it emits
(outbox) in ONE transaction, its unit of work (unit_of_work.py). So a crash can never leave an
effect without its event, or handle a redelivered message twice. The relay publishes outbox rows
in order with publisher confirms and marks them published only once confirmed: a broker outage
delays events, never loses them, and a message that was published but not confirmed is
published again (consumers drop the copy).

Each row keeps the W3C trace context of the transaction that wrote it (also in the event's
`traceparent`), so the relay's publish span joins that trace however late the row is relayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Final

import pika
from opentelemetry.trace import SpanKind

from services.kernel import tracing
from services.kernel.broker.events import CONTENT_TYPE, CloudEvent
from services.kernel.broker.link import BrokerLink, BrokerUnavailable
from services.kernel.broker.topology import Topology
from services.kernel.clock import now_iso
from services.kernel.database import Database

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
    tracestate   TEXT
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
ADDED_COLUMNS: Final = (("outbox", "traceparent", "TEXT"), ("outbox", "tracestate", "TEXT"))


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
        rows = self._db.execute(
            "SELECT seq, event_id, type, correlation, body, traceparent, tracestate FROM outbox"
            " WHERE published_at IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6]) for r in rows]

    def mark_published(self, seqs: list[int]) -> None:
        with self._db.transaction():
            self._db.executemany(
                "UPDATE outbox SET published_at = ? WHERE seq = ?", [(now_iso(), s) for s in seqs]
            )

    def backlog(self) -> int:
        row = self._db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return int(row.fetchone()[0])

    def waiter(self) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.append(event)
        return event


class OutboxRelay:
    """Publishes outbox rows through the link, marking each one once the broker confirmed it."""

    def __init__(self, messages: Messages, link: BrokerLink, topology: Topology) -> None:
        self._messages = messages
        self._link = link
        self._topology = topology
        self._wake = messages.waiter()

    async def run(self) -> None:
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
        rows = self._messages.unpublished()
        if not rows:
            self._wake.clear()
            await _wait(self._wake, IDLE_POLL_S)
            return True
        done = await self._publish(rows)
        if done:
            self._messages.mark_published(done)
        return len(done) == len(rows)

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
