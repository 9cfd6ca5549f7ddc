"""SQLite access for a service's store (`Database` on sqlite3): the default back end.

Why synchronous calls on the event loop: each statement takes microseconds on a local file, and
running a whole transaction without an `await` in the middle makes it atomic with respect to every
other coroutine of the process. That is what keeps "reserve all lines or none" and idempotency
checks race-free without locks. WAL with synchronous=NORMAL survives a killed process (what the
crash tests do); only an OS crash could lose the last commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from services.kernel.database import ConstraintViolation, Database, OutdatedDatabase, Params


def connect(path: Path | str, schema: str, version: int = 1) -> sqlite3.Connection:
    """Open (creating if needed) a database and apply its idempotent schema script.

    `version` is stored as the file's user_version; a file with tables and another version was
    made by another release of orderflow, and is refused with a way out."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=5000")
    _check_version(connection, path, version)
    connection.executescript(schema)
    connection.execute(f"PRAGMA user_version={int(version)}")
    return connection


def _check_version(connection: sqlite3.Connection, path: Path | str, version: int) -> None:
    found = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT count(*) FROM sqlite_master WHERE type='table'")
    if tables.fetchone()[0] and found != version:
        connection.close()
        raise OutdatedDatabase(
            f"{path} holds schema version {found}, this orderflow needs {version}: "
            "start afresh with `orderflow up --reset` (or delete the file)"
        )


def add_column(connection: sqlite3.Connection, table: str, column: str, declaration: str) -> None:
    """Add a column a newer release needs to a file written before it (no-op when present):
    an additive change keeps older files usable instead of asking for a reset."""
    present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
    if column not in present:
        connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


class SqliteDatabase(Database):
    """A service's SQLite file (`Database` on sqlite3): queries run exactly as written."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        try:
            return self.connection.execute(sql, params)
        except sqlite3.IntegrityError as error:
            raise _violation(error) from error

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            self.connection.executemany(sql, rows)
        except sqlite3.IntegrityError as error:
            raise _violation(error) from error

    def begin(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        try:
            self.connection.execute("COMMIT")
        except sqlite3.IntegrityError as error:  # a deferred foreign key
            raise _violation(error) from error

    def rollback(self) -> None:
        self.connection.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        return self.connection.in_transaction

    def add_column(self, table: str, column: str, declaration: str) -> None:
        add_column(self.connection, table, column, declaration)

    def close(self) -> None:
        self.connection.close()


def open_database(path: Path | str, schema: str, version: int = 1) -> SqliteDatabase:
    return SqliteDatabase(connect(path, schema, version))


_UNIQUE = {sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY}


def _violation(error: sqlite3.IntegrityError) -> ConstraintViolation:
    return ConstraintViolation(str(error), unique=error.sqlite_errorcode in _UNIQUE)
