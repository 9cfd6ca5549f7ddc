"""SQLite access shared by every service's store.

Why synchronous calls on the event loop: each statement takes microseconds on a local file, and
running a whole transaction without an `await` in the middle makes it atomic with respect to every
other coroutine of the process. That is what keeps "reserve all lines or none" and idempotency
checks race-free without locks. WAL with synchronous=NORMAL survives a killed process (what the
crash tests do); only an OS crash could lose the last commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Self


def connect(path: Path | str, schema: str) -> sqlite3.Connection:
    """Open (creating if needed) a database and apply its idempotent schema script."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=5000")
    connection.executescript(schema)
    return connection


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception: nothing is ever half-written."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def is_reachable(connection: sqlite3.Connection) -> bool:
    try:
        connection.execute("SELECT 1").fetchone()
    except sqlite3.Error:
        return False
    return True


class SqliteStore:
    """What every service's store shares: its own database file, opened with its schema."""

    SCHEMA: ClassVar[str]

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    @classmethod
    def open(cls, path: Path | str) -> Self:
        return cls(connect(path, cls.SCHEMA))

    def close(self) -> None:
        self._db.close()

    def is_reachable(self) -> bool:
        return is_reachable(self._db)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the store's writes: all of them commit, or none."""
        with transaction(self._db):
            yield
