"""Order persistence: orders, their lines, and the durable saga log, in the order service's DB.

The saga's position (`saga_state`, pending compensation flags) is saved in the same transaction as
every status change, so a process killed at any instant restarts knowing exactly what is left.
`saga_log` is an append-only history of every step, kept for people: it explains an order.
`status_changes` numbers each order's statuses 1, 2, 3... as they are saved (in the same
transaction): the Server-Sent Events stream sends them with that number as the event id, so a
client resuming with `Last-Event-ID` gets exactly the changes after the one it saw.
`notifications_owed` lists the finished orchestrated orders whose customer is not told yet: a row
is written in the transaction that finishes the order and deleted once notification acknowledged.

Replicas of the order service share one database (PostgreSQL), so what one process used to own
by running it is claimed (services/kernel/lease.py): an unfinished saga by the replica driving
it (`claimed_by`, `claimed_until` on orders; taken when the saga starts, renewed while it runs,
checked by every save, dropped when it ends) and an owed notification by the replica delivering
it. A replica that dies leaves its claims to the others once their lease lapses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from services.kernel.broker import outbox
from services.kernel.database import Database, Row, Store
from services.kernel.lease import Lease, skip_locked
from services.kernel.paging import Page
from services.order.domain import (
    Compensation,
    Order,
    OrderLine,
    Reason,
    SagaState,
    Status,
)
from services.order.updates import StatusChange

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    status          TEXT NOT NULL,
    reason          TEXT,
    payment_token   TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    fingerprint     TEXT NOT NULL,
    style           TEXT NOT NULL,
    saga_state      TEXT NOT NULL,
    release_pending INTEGER NOT NULL DEFAULT 0,
    refund_pending  INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    callback_url    TEXT,
    claimed_by      TEXT,   -- the replica driving its saga now, until claimed_until (epoch ms)
    claimed_until   BIGINT
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id, created_at);
CREATE INDEX IF NOT EXISTS orders_by_saga ON orders (saga_state);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id         TEXT NOT NULL REFERENCES orders (id),
    position         INTEGER NOT NULL,
    sku              TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER,
    PRIMARY KEY (order_id, position)
);
CREATE TABLE IF NOT EXISTS saga_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL REFERENCES orders (id),
    step     TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    detail   TEXT,
    at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS saga_log_by_order ON saga_log (order_id, seq);
CREATE TABLE IF NOT EXISTS status_changes (
    order_id TEXT NOT NULL REFERENCES orders (id),
    seq      INTEGER NOT NULL,
    status   TEXT NOT NULL,
    reason   TEXT,
    at       TEXT NOT NULL,
    PRIMARY KEY (order_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notifications_owed (
    order_id       TEXT PRIMARY KEY REFERENCES orders (id),
    owed_at        TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    traceparent    TEXT,  -- the trace context of the transaction that owed it
    tracestate     TEXT,
    claimed_by     TEXT,  -- the replica delivering it now, until claimed_until (epoch ms)
    claimed_until  BIGINT
);
CREATE TABLE IF NOT EXISTS broker_waiters (
    order_id       TEXT NOT NULL REFERENCES orders (id),
    correlation_id TEXT NOT NULL,
    PRIMARY KEY (order_id, correlation_id)
);
"""


OPEN_SAGA = tuple(state.value for state in SagaState if state is not SagaState.DONE)
_OPEN = f"saga_state IN ({','.join(repr(state) for state in OPEN_SAGA)})"
# Nobody holds it, or its holder's lease lapsed (?2: now), or `lease` itself holds it (?1).
_CLAIMABLE = "(claimed_until IS NULL OR claimed_until < ?2 OR claimed_by = ?1)"
# Columns added since the first schema, for databases written before them (nullable).
ADDED_COLUMNS = (
    ("notifications_owed", "traceparent", "TEXT"),  # before traces
    ("notifications_owed", "tracestate", "TEXT"),
    ("orders", "callback_url", "TEXT"),  # before webhooks
    ("orders", "claimed_by", "TEXT"),  # before replicas
    ("orders", "claimed_until", "BIGINT"),
    ("notifications_owed", "claimed_by", "TEXT"),
    ("notifications_owed", "claimed_until", "BIGINT"),
)


_STATE = (
    "status = ?, reason = ?, saga_state = ?, release_pending = ?, refund_pending = ?,"
    " updated_at = ?"
)


class ClaimLost(Exception):
    """Another replica holds the order now (this one's lease lapsed): its save is refused."""


@dataclass(frozen=True)
class LogEntry:
    step: str
    outcome: str
    detail: str | None
    at: str


class AuditedOrder(NamedTuple):
    """One order as the audit lists it: the key is the client's, as it sent it (or None)."""

    id: str
    status: str
    reason: str | None
    style: str
    idempotency_key: str | None
    saga_state: str  # DONE once nothing is left to give back: a CANCELLED order may still owe


class OrderStore(Store):
    SCHEMA = SCHEMA + outbox.SCHEMA
    # Set by announce_changes (replicas on PostgreSQL only): (channel, origin).
    _announce: tuple[str, str] | None = None

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        # The broker style's outbox and inbox, written in this store's transactions.
        self.messages = outbox.Messages(database)
        for table, column, declaration in ADDED_COLUMNS:
            database.add_column(table, column, declaration)

    def add(self, order: Order, lease: Lease | None = None) -> None:
        """Record a new order; with `lease`, claimed by it (the saga its placer starts)."""
        self._db.execute(
            "INSERT INTO orders (id, customer_id, status, reason, payment_token, idempotency_key,"
            " fingerprint, style, saga_state, created_at, updated_at, callback_url, claimed_by,"
            " claimed_until) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                order.id,
                order.customer_id,
                order.status,
                order.reason,
                order.payment_token,
                order.idempotency_key,
                order.fingerprint,
                order.style,
                order.saga,
                order.created_at,
                order.updated_at,
                order.callback_url,
                lease.holder if lease else None,
                lease.until_ms() if lease else None,
            ),
        )
        self._write_lines(order)
        self._record_status(order)

    def update(self, order: Order, lease: Lease | None = None) -> None:
        """Save a saga step: the order's row, and its lines only when they have just been priced.

        With `lease` (the saga's), only while it holds the order, else ClaimLost (roll back):
        a replica that was taken over saves nothing. The save renews the claim, and the one
        that finishes the saga drops it."""
        self._record_status(order, if_changed=True)  # before the row takes the new status
        state = (
            order.status,
            order.reason,
            order.saga,
            order.compensation.release_stock,
            order.compensation.refund_payment,
            order.updated_at,
        )
        if lease is None:
            self._db.execute(f"UPDATE orders SET {_STATE} WHERE id = ?", (*state, order.id))
        elif not self._db.execute(
            f"UPDATE orders SET {_STATE}, claimed_by = ?, claimed_until = ?"
            " WHERE id = ? AND claimed_by = ?",
            (*state, *_kept(order, lease), order.id, lease.holder),
        ).rowcount:
            raise ClaimLost(f"order {order.id} is claimed by another replica")
        if order.total_cents is not None and self._unpriced(order.id):
            self._db.execute("DELETE FROM order_lines WHERE order_id = ?", (order.id,))
            self._write_lines(order)

    def claim(self, order_id: str, lease: Lease) -> bool:
        """Whether `lease` now holds the order's open saga: taken if nobody holds it or its
        holder's lease lapsed, renewed if `lease` held it already. False for an order that is
        claimed elsewhere, finished, or of the broker style (moved by its events only)."""
        return bool(
            self._db.execute(
                "UPDATE orders SET claimed_by = ?1, claimed_until = ?3 WHERE id = ?4"
                f" AND {_OPEN} AND style != 'broker' AND {_CLAIMABLE}",
                (lease.holder, lease.now_ms(), lease.until_ms(), order_id),
            ).rowcount
        )

    def renew_claims(self, order_ids: list[str], lease: Lease) -> list[str]:
        """Extend the claims `lease` holds on these orders (one statement); returns those it
        does not hold any more (taken over)."""
        marks = ",".join("?" * len(order_ids))
        renewed = self._db.execute(
            f"UPDATE orders SET claimed_until = ? WHERE claimed_by = ? AND id IN ({marks})"
            " RETURNING id",
            (lease.until_ms(), lease.holder, *order_ids),
        ).fetchall()
        kept = {row[0] for row in renewed}
        return [order_id for order_id in order_ids if order_id not in kept]

    def release_claim(self, order_id: str, lease: Lease) -> None:
        """The saga stopped short of its end (compensation waits, or a shutdown): anyone's."""
        self._db.execute(
            "UPDATE orders SET claimed_by = NULL, claimed_until = NULL"
            " WHERE id = ? AND claimed_by = ?",
            (order_id, lease.holder),
        )

    def claim_holders(self) -> list[str]:
        """Who holds claims on sagas or owed notifications now (a handful of replicas)."""
        rows = self._db.execute(
            "SELECT claimed_by FROM orders WHERE claimed_by IS NOT NULL AND "
            + _OPEN
            + " UNION SELECT claimed_by FROM notifications_owed WHERE claimed_by IS NOT NULL"
        )
        return sorted(row[0] for row in rows)

    def release_claims(self, holder: str) -> int:
        """Void every claim `holder` has: a process known to be gone. Returns how many."""
        released = 0
        for table in ("orders", "notifications_owed"):
            released += self._db.execute(
                f"UPDATE {table} SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?",
                (holder,),
            ).rowcount
        return released

    def _record_status(self, order: Order, if_changed: bool = False) -> None:
        """Number the order's status as its next. `if_changed` (a save, before the order's row
        is written): only if the stored row's status differs, in the same statement (a save
        read the status first, then wrote: one statement more per saga step)."""
        recorded = self._db.execute(
            "INSERT INTO status_changes (order_id, seq, status, reason, at)"
            " SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4 FROM status_changes"
            " WHERE order_id = ?1"
            + (" HAVING (SELECT status FROM orders WHERE id = ?1) != ?2" if if_changed else ""),
            (order.id, order.status, order.reason, order.updated_at),
        ).rowcount
        if recorded and self._announce is not None:
            self._announce_status(order.id, *self._announce)

    def announce_changes(self, channel: str, origin: str) -> None:
        """Also NOTIFY `channel` of each status saved, as `<origin> <seq> <order id>`, for the
        live updates of the other replicas on this database (update_relay.py). PostgreSQL only.
        NOTIFY is transactional: it is sent at commit, when the change is readable, or never."""
        self._announce = (channel, origin)

    def _announce_status(self, order_id: str, channel: str, origin: str) -> None:
        self._db.wait_long_for_locks()  # NOTIFY's commits queue for each other (not rows)
        self._db.execute(
            "SELECT pg_notify(CAST(?1 AS TEXT), CAST(?2 AS TEXT) || ' ' || MAX(seq) || ' '"
            " || CAST(?3 AS TEXT)) FROM status_changes WHERE order_id = ?3",
            (channel, origin, order_id),
        )

    def status_changes(self, order_id: str, after: int = 0) -> list[StatusChange]:
        """The order's statuses numbered above `after`, oldest first (a handful per order)."""
        rows = self._db.execute(
            "SELECT seq, status, reason, at FROM status_changes WHERE order_id = ? AND seq > ?"
            " ORDER BY seq",
            (order_id, after),
        )
        return [
            StatusChange(order_id, r[0], Status(r[1]), Reason(r[2]) if r[2] else None, r[3])
            for r in rows
        ]

    def _unpriced(self, order_id: str) -> bool:
        """Whether the stored lines still wait for inventory's prices. Lines change once, when
        the reservation prices them; every other save (charge, confirm, each compensation)
        leaves them as they are, so it writes the order's row only, not its lines again."""
        row = self._db.execute(
            "SELECT 1 FROM order_lines WHERE order_id = ? AND unit_price_cents IS NULL LIMIT 1",
            (order_id,),
        ).fetchone()
        return row is not None

    def log(
        self, order_id: str, step: str, outcome: str, at: str, detail: str | None = None
    ) -> None:
        self._db.execute(
            "INSERT INTO saga_log (order_id, step, outcome, detail, at) VALUES (?,?,?,?,?)",
            (order_id, step, outcome, detail, at),
        )

    def get(self, order_id: str) -> Order | None:
        row = self._db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return None if row is None else self._order(row)

    def get_locked(self, order_id: str) -> Order | None:
        """`get` for a read-modify-write in a transaction: on PostgreSQL the row is locked
        until it ends, so another replica moving the same order waits, then reads what this
        one saved instead of saving over it (SQLite has one writer at a time already)."""
        query = f"SELECT * FROM orders WHERE id = ?{self._db.lock_clause}"
        row = self._db.execute(query, (order_id,)).fetchone()
        return None if row is None else self._order(row)

    def by_idempotency_key(self, key: str) -> Order | None:
        row = self._db.execute("SELECT * FROM orders WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else self._order(row)

    def for_customer(self, customer_id: str, limit: int) -> list[Order]:
        rows = self._db.execute(
            "SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC, rowid DESC"
            " LIMIT ?",
            (customer_id, limit),
        ).fetchall()
        return [self._order(row) for row in rows]

    def unfinished(self, lease: Lease | None = None) -> list[Order]:
        """Orchestrated orders whose saga is not done: what recovery must drive to an end
        (broker-style orders move only by the events that reach them); with `lease`, only those
        it could claim now (`claim` takes each: another replica may be quicker).

        Runs every few seconds on the event loop, so it names the open states (an index search)
        rather than `!= 'DONE'` (a scan of every order ever placed)."""
        claimable = f" AND {_CLAIMABLE}" if lease else ""
        holder, now = (lease.holder, lease.now_ms()) if lease else (None, None)
        rows = self._db.execute(
            f"SELECT * FROM orders WHERE {_OPEN} AND style != 'broker'{claimable}"
            " ORDER BY created_at",
            (holder, now) if lease else (),
        ).fetchall()
        return [self._order(row) for row in rows]

    def history(self, order_id: str) -> list[LogEntry]:
        rows = self._db.execute(
            "SELECT step, outcome, detail, at FROM saga_log WHERE order_id = ? ORDER BY seq",
            (order_id,),
        ).fetchall()
        return [LogEntry(r["step"], r["outcome"], r["detail"], r["at"]) for r in rows]

    def last_outcome(self, order_id: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT step, outcome FROM saga_log WHERE order_id = ? ORDER BY seq DESC LIMIT 1",
            (order_id,),
        ).fetchone()
        return None if row is None else (row["step"], row["outcome"])

    def owe_notification(
        self, order_id: str, at: str, correlation_id: str, trace: Mapping[str, str] | None = None
    ) -> None:
        """The customer must be told how this order ended (call inside `transaction`); the
        delivery carries the correlation id and trace context of the work that finished it."""
        trace = trace or {}
        self._db.execute(
            "INSERT OR IGNORE INTO notifications_owed (order_id, owed_at, correlation_id,"
            " traceparent, tracestate) VALUES (?, ?, ?, ?, ?)",
            (order_id, at, correlation_id, trace.get("traceparent"), trace.get("tracestate")),
        )

    def owed_trace(self, order_id: str) -> tuple[str | None, str | None]:
        """The trace context (traceparent, tracestate) an owed notification was recorded in."""
        row = self._db.execute(
            "SELECT traceparent, tracestate FROM notifications_owed WHERE order_id = ?",
            (order_id,),
        ).fetchone()
        return (None, None) if row is None else (row[0], row[1])

    def notifications_due(self, limit: int) -> list[tuple[str, str]]:
        """The oldest owed notifications, claimed or not: (order id, correlation id)."""
        rows = self._db.execute(
            "SELECT order_id, correlation_id FROM notifications_owed"
            " ORDER BY owed_at, rowid LIMIT ?",
            (limit,),
        )
        return [(row[0], row[1]) for row in rows]

    def claim_notifications(self, limit: int, lease: Lease) -> list[tuple[str, str]]:
        """The oldest owed notifications no other replica is delivering, now claimed by `lease`
        (one statement, atomic by itself): (order id, correlation id), oldest first. The batch
        is picked once, as the outbox's is (outbox.Messages.claim says why); the outer WHERE
        repeats the condition: a row whose lock was waited for is judged as its holder left it."""
        rows = self._db.execute(
            "WITH batch AS MATERIALIZED (SELECT order_id FROM notifications_owed"
            f" WHERE {_CLAIMABLE} ORDER BY owed_at, rowid LIMIT ?4{skip_locked(self._db)})"
            " UPDATE notifications_owed SET claimed_by = ?1, claimed_until = ?3"
            f" WHERE {_CLAIMABLE} AND order_id IN (SELECT order_id FROM batch)"
            " RETURNING order_id, correlation_id, owed_at, rowid",
            (lease.holder, lease.now_ms(), lease.until_ms(), limit),
        ).fetchall()
        return [(row[0], row[1]) for row in sorted(rows, key=lambda row: (row[2], row[3]))]

    def release_notifications(self, order_ids: list[str], lease: Lease) -> None:
        """Not delivered this time: any replica may try them again (call inside `transaction`)."""
        self._db.executemany(
            "UPDATE notifications_owed SET claimed_by = NULL, claimed_until = NULL"
            " WHERE order_id = ? AND claimed_by = ?",
            [(order_id, lease.holder) for order_id in order_ids],
        )

    def notified(self, order_id: str) -> None:
        """Notification acknowledged (or refused for good): nothing is owed any more."""
        self._db.execute("DELETE FROM notifications_owed WHERE order_id = ?", (order_id,))

    def notifications_owed(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM notifications_owed").fetchone()[0])

    def add_waiter(self, order_id: str, correlation_id: str) -> None:
        """A broker client waiting for this order's terminal event (the first, or a retry)."""
        self._db.execute(
            "INSERT OR IGNORE INTO broker_waiters VALUES (?, ?)", (order_id, correlation_id)
        )

    def waiters(self, order_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT correlation_id FROM broker_waiters WHERE order_id = ? ORDER BY rowid",
            (order_id,),
        )
        return [row[0] for row in rows]

    def status_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) AS n FROM orders GROUP BY status")
        return {row["status"]: row["n"] for row in rows}

    def audited(self, style: str | None, page: Page) -> list[AuditedOrder]:
        """A page of the orders (of one style, or all), by id: one query, not one per order."""
        rows = self._db.execute(
            "SELECT id, status, reason, style, idempotency_key, saga_state FROM orders"
            " WHERE (CAST(?1 AS TEXT) IS NULL OR style = ?1)"
            " AND id > COALESCE(?2, '') ORDER BY id LIMIT ?3",
            (style, page.after, page.fetched),
        )
        return [AuditedOrder(*row) for row in rows]

    def confirmed_units(self, style: str | None, after: str | None, through: str) -> dict[str, int]:
        """Units per SKU over the lines of the CONFIRMED orders (of one style, or all) whose ids
        sort after `after` (None: from the first) and up to `through`: one page's, so that the
        sum costs what the page does, however many orders there are."""
        rows = self._db.execute(
            "SELECT l.sku, SUM(l.quantity) FROM order_lines AS l"
            " JOIN orders AS o ON o.id = l.order_id WHERE o.status = ?1"
            " AND (CAST(?2 AS TEXT) IS NULL OR o.style = ?2)"
            " AND o.id > COALESCE(?3, '') AND o.id <= ?4"
            " GROUP BY l.sku ORDER BY l.sku",
            (Status.CONFIRMED.value, style, after, through),
        )
        return {sku: int(units) for sku, units in rows}

    def _write_lines(self, order: Order) -> None:
        self._db.executemany(
            "INSERT INTO order_lines VALUES (?, ?, ?, ?, ?)",
            [
                (order.id, position, line.sku, line.quantity, line.unit_price_cents)
                for position, line in enumerate(order.lines)
            ],
        )

    def _order(self, row: Row) -> Order:
        lines = self._db.execute(
            "SELECT sku, quantity, unit_price_cents FROM order_lines"
            " WHERE order_id = ? ORDER BY position",
            (row["id"],),
        ).fetchall()
        return Order(
            id=row["id"],
            customer_id=row["customer_id"],
            status=Status(row["status"]),
            reason=Reason(row["reason"]) if row["reason"] else None,
            lines=tuple(OrderLine(r["sku"], r["quantity"], r["unit_price_cents"]) for r in lines),
            payment_token=row["payment_token"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            saga=SagaState(row["saga_state"]),
            compensation=Compensation(bool(row["release_pending"]), bool(row["refund_pending"])),
            idempotency_key=row["idempotency_key"],
            fingerprint=row["fingerprint"],
            style=row["style"],
            callback_url=row["callback_url"],
        )


def _kept(order: Order, lease: Lease) -> tuple[str | None, int | None]:
    """The claim a saga's save leaves: renewed, or dropped once the saga is done."""
    if order.saga is SagaState.DONE:
        return None, None
    return lease.holder, lease.until_ms()
