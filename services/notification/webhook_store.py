"""The webhooks notification owes, in its own database (the same transaction as the notice).

A row is written with the notification it reports, so a restart resumes what is owed. It stays
after it ends: `delivered` once a receiver answered 2xx, `dead` (the dead-letter record) after the
last retry failed or when its URL was refused here; `last_error` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from services.kernel.clock import now_iso
from services.kernel.database import Database, Row

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS webhooks (
    id          TEXT PRIMARY KEY,  -- webhook-id: the same on every try, receivers dedupe on it
    order_id    TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    url         TEXT NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('owed', 'delivered', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at     REAL NOT NULL,      -- epoch seconds of the next try while owed
    last_error  TEXT,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (state, next_at);
"""


class State(StrEnum):
    OWED = "owed"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True)
class Webhook:
    id: str
    order_id: str
    customer_id: str
    url: str
    body: str
    state: State
    attempts: int
    last_error: str | None
    updated_at: str


class Webhooks:
    """Queries on the webhooks table; writes run inside the owning store's transactions."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def owe(self, webhook: Webhook, next_at: float) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO webhooks (id, order_id, customer_id, url, body, state,"
            " attempts, next_at, last_error, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                webhook.id,
                webhook.order_id,
                webhook.customer_id,
                webhook.url,
                webhook.body,
                webhook.state,
                webhook.attempts,
                next_at,
                webhook.last_error,
                webhook.updated_at,
            ),
        )

    def due(self, now: float, limit: int) -> list[Webhook]:
        rows = self._db.execute(
            "SELECT * FROM webhooks WHERE state = 'owed' AND next_at <= ? ORDER BY next_at LIMIT ?",
            (now, limit),
        ).fetchall()
        return [_webhook(row) for row in rows]

    def next_due(self) -> float | None:
        row = self._db.execute("SELECT MIN(next_at) FROM webhooks WHERE state = 'owed'").fetchone()
        return None if row[0] is None else float(row[0])

    def settle(self, webhook_id: str, state: State, attempts: int, error: str | None) -> None:
        self._db.execute(
            "UPDATE webhooks SET state = ?, attempts = ?, last_error = ?, updated_at = ?"
            " WHERE id = ?",
            (state, attempts, error, now_iso(), webhook_id),
        )

    def retry_at(self, webhook_id: str, attempts: int, error: str, next_at: float) -> None:
        self._db.execute(
            "UPDATE webhooks SET attempts = ?, last_error = ?, next_at = ?, updated_at = ?"
            " WHERE id = ?",
            (attempts, error, next_at, now_iso(), webhook_id),
        )

    def in_state(self, state: State, limit: int) -> list[Webhook]:
        rows = self._db.execute(
            "SELECT * FROM webhooks WHERE state = ? ORDER BY updated_at DESC LIMIT ?",
            (state, limit),
        ).fetchall()
        return [_webhook(row) for row in rows]

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM webhooks GROUP BY state")
        found = {row[0]: int(row[1]) for row in rows}
        return {state.value: found.get(state.value, 0) for state in State}


def _webhook(row: Row) -> Webhook:
    return Webhook(
        id=row["id"],
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        url=row["url"],
        body=row["body"],
        state=State(row["state"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        updated_at=row["updated_at"],
    )
