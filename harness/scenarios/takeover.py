"""How long the other replicas take to finish what a killed order replica left: the recovery
time of a replica crash (docs/scenarios.md, Replicas).

At the kill, the order service's database says which orders the replica left unfinished: in the
orchestrated styles the open sagas it had claimed (`claimed_by` is its ORDERFLOW_REPLICA_ID, and
the claim outlives the process until its lease lapses); in the broker style, where no replica
claims an order (each step is a message, and a dead consumer's unacknowledged ones go back to the
queue), every order open at the kill. From then on the watch reads, a few times a second, how
many of them are still open; the recovery time is from the kill to the moment none is.

It reads the database itself, not a service's API: which replica holds a saga is the store's
bookkeeping, which no API shows, and a replica that is down answers nothing anyway.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg

from harness.vocabulary import BROKER

POLL_S: Final = 0.2
CONNECT_TIMEOUT_S: Final = 5
# services/order/domain.py, SagaState.DONE: nothing left to do (the harness reads the store's
# values, it does not import the service's domain).
_OPEN = "saga_state <> 'DONE'"


@dataclass
class Takeover:
    """One killed order replica and what it left."""

    replica: str
    killed_at: float  # epoch seconds
    left: list[str]  # the order ids it left unfinished
    finished_at: float | None = None  # epoch: when the last of them was finished
    open_at_end: int | None = None  # still open when the watch stopped (None: it never did)
    error: str | None = None

    def to_json(self, zero: float) -> dict[str, Any]:
        done = self.finished_at
        # nothing left: nothing to recover (the kill fell between two orders)
        recovery = None if done is None or not self.left else round(done - self.killed_at, 2)
        return {
            "replica": self.replica,
            "killed_s": round(self.killed_at - zero, 2),
            "left": len(self.left),
            "finished_s": None if done is None else round(done - zero, 2),
            "recovery_s": recovery,
            "still_open": self.open_at_end or 0,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class TakeoverWatch:
    """`database_url`: the order service's database (every replica shares it)."""

    database_url: str
    style: str
    takeovers: list[Takeover] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def killed(self, replica: str) -> None:
        """Called just after the replica's process was killed: note what it left, and watch it
        being finished by the others on a thread of its own."""
        takeover = Takeover(replica, time.time(), [])
        self.takeovers.append(takeover)
        try:
            takeover.left = self._left(replica)
        except psycopg.Error as error:
            takeover.error = f"the order database could not be read: {error}"
            return
        if not takeover.left:
            return
        thread = threading.Thread(target=self._watch, args=(takeover,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """After the audit's settling: a takeover not over by then is recorded as not over."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def section(self, zero: float) -> list[dict[str, Any]]:
        return [takeover.to_json(zero) for takeover in self.takeovers]

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        timeout = CONNECT_TIMEOUT_S
        return psycopg.connect(self.database_url, autocommit=True, connect_timeout=timeout)

    def _left(self, replica: str) -> list[str]:
        params: tuple[str, ...]
        if self.style == BROKER:
            query, params = f"SELECT id FROM orders WHERE {_OPEN}", ()
        else:
            query, params = f"SELECT id FROM orders WHERE {_OPEN} AND claimed_by = %s", (replica,)
        with self._connect() as connection:
            return [str(row[0]) for row in connection.execute(query, params)]

    def _watch(self, takeover: Takeover) -> None:
        try:
            with self._connect() as connection:
                while True:
                    still = self._open(connection, takeover.left)
                    if still == 0:
                        takeover.finished_at = time.time()
                        return
                    if self._stopping.wait(POLL_S):
                        takeover.open_at_end = still
                        return
        except psycopg.Error as error:
            takeover.error = f"the order database could not be read: {error}"

    @staticmethod
    def _open(connection: psycopg.Connection[tuple[Any, ...]], ids: list[str]) -> int:
        if not ids:
            return 0
        row = connection.execute(
            f"SELECT count(*) FROM orders WHERE {_OPEN} AND id = ANY(%s)", (ids,)
        ).fetchone()
        return int(row[0]) if row else 0
