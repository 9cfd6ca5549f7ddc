"""What one store write transaction costs in CPU, here and now: the bound's price of each of an
order's transactions (docs/bench.md, "CPU per order and the bound").

Measured once per run, in the bench's own process, on the store the run's stack uses:

- SQLite as the services open it (WAL, synchronous=NORMAL: services/kernel/sqlite.py), in a
  scratch file. Its work is all in the process that calls it, as a service's is.
- PostgreSQL as the services connect to it (autocommit, explicit BEGIN and COMMIT:
  services/kernel/postgres.py), in a scratch database of the project's own, dropped afterwards.
  Most of a transaction's work is then the server backend's. Its CPU is counted too when the
  server is on this machine, just as the run's totals count the backends that serve the stack
  (harness/bench/backends.py). A server elsewhere is counted in neither: the price is then the
  client's side alone, like the totals it is compared with.

Each is a one-row insert and its commit: the least a write transaction can be."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import psycopg

from harness.bench import backends
from harness.bench.cpu import PROC, cpu_seconds
from harness.stack import postgres

SQLITE_SAMPLED: Final = 300
# The backend's CPU is read from /proc in clock ticks (10 ms): this many transactions give it
# tens of ticks to read, half a second or so of a run.
POSTGRES_SAMPLED: Final = 2000
BODY: Final = "x" * 200


def sqlite_ms(folder: Path, count: int = SQLITE_SAMPLED) -> float:
    """CPU-ms of one small write transaction in SQLite as the services open it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "transaction-cost.db"
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        started = time.process_time()
        for i in range(count):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO t (id, body) VALUES (?, ?)", (i, BODY))
            connection.execute("COMMIT")
        return (time.process_time() - started) * 1000 / count
    finally:
        connection.close()
        for leftover in folder.glob("transaction-cost.db*"):
            leftover.unlink(missing_ok=True)


@dataclass(frozen=True)
class PostgresPrice:
    """One transaction's CPU-ms on each side: the client's (psycopg and libpq, in this process)
    and its backend's (None when it cannot be read: a server elsewhere)."""

    client_ms: float
    server_ms: float | None

    @property
    def cpu_ms(self) -> float:
        return self.client_ms + (self.server_ms or 0.0)


def postgres_ms(admin_url: str, count: int = POSTGRES_SAMPLED, proc: Path = PROC) -> PostgresPrice:
    """One small write transaction on the PostgreSQL server at `admin_url`, as a service makes
    it, in a database created for the measurement and dropped after it. Raises
    postgres.PostgresUnavailable when the server cannot be reached."""
    name = postgres.unique_name("txcost")
    url = postgres.create(admin_url, name)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            connection.execute("CREATE TABLE t (id integer PRIMARY KEY, body text NOT NULL)")
            backend = _backend(connection, admin_url)
            server_before = _cpu(backend, proc)
            started = time.process_time()
            for i in range(count):
                connection.execute("BEGIN")
                connection.execute("INSERT INTO t (id, body) VALUES (%s, %s)", (i, BODY))
                connection.execute("COMMIT")
            client_ms = (time.process_time() - started) * 1000 / count
            server_after = _cpu(backend, proc)
    except psycopg.Error as error:  # the server went away meanwhile: say so, as for the stack
        raise postgres.PostgresUnavailable(
            f"pricing a store transaction on PostgreSQL at {admin_url} failed: {str(error).strip()}"
        ) from error
    finally:
        postgres.drop(admin_url, name)
    server_ms = (
        None
        if server_before is None or server_after is None
        else (server_after - server_before) * 1000 / count
    )
    return PostgresPrice(client_ms, server_ms)


def _backend(connection: psycopg.Connection[tuple[object, ...]], admin_url: str) -> int | None:
    """The pid of the connection's backend, when the server runs on this machine."""
    if not backends.is_local(admin_url):
        return None
    row = connection.execute("SELECT pg_backend_pid()").fetchone()
    return None if row is None else cast("int", row[0])


def _cpu(pid: int | None, proc: Path) -> float | None:
    if pid is None:
        return None
    with contextlib.suppress(PermissionError):  # a backend another user's /proc hides
        return cpu_seconds(pid, proc)
    return None
