"""The one seam between the services' stores and their database: SQLite or PostgreSQL.

A store writes each query once, in SQLite's spelling (`?`, `?1`, `:name` placeholders,
`INSERT OR IGNORE`); `Database.execute` runs it as written on SQLite and as translated on
PostgreSQL (postgres.py). Which one a service uses is one setting: a `postgresql://` URL
(ORDERFLOW_DATABASE_URL) or, by default, a file path.

Atomicity differs by back end, and the stores rely on both ways (docs/architecture.md, "Stores"):
on SQLite a transaction is BEGIN IMMEDIATE with no `await` inside, which excludes every other
writer; on PostgreSQL it is READ COMMITTED, and what must not race is guarded by the database
itself: row locks (`lock_clause`), conditional updates and unique constraints. A lock another
process holds is waited for only briefly on the loop: past that the transaction fails as
`DatabaseBusy`, and `Store.atomically` (or `rerun_while_busy`) runs it again after an
asynchronous pause, so no request holds the loop while another process's transaction ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Final, Protocol, Self, TypeVar

from services.kernel.config import ConfigError
from services.kernel.errors import DownstreamUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# Parameters as the stores pass them: positional, or by name for `:name` placeholders.
Params = Sequence[Any] | dict[str, Any]


class Row(Protocol):
    """A result row, read by column name or position (sqlite3.Row, or postgres.Row)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    """What a store reads back from a statement: rows, or how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class ConstraintViolation(Exception):
    """A write the schema refused (unique key, CHECK, foreign key), on either back end.

    The driver's own error is its `__cause__`. On PostgreSQL a unique violation usually means
    another process committed the same key first: `Store.atomically` runs the work again."""

    def __init__(self, message: str, *, unique: bool) -> None:
        super().__init__(message)
        self.unique = unique


class OutdatedDatabase(ConfigError):
    """The database was written with another schema: refuse it rather than misread it."""


class DatabaseUnreachable(ConfigError):
    """The service's database cannot be reached at start: say where, and what to set."""


class DatabaseUnavailable(DownstreamUnavailable):
    """The database could not do a request's work now (its connection was lost, or is being
    opened again): every edge answers it as a service that could not answer (503, UNAVAILABLE,
    ...), and the broker consumer retries it. What the transaction wrote is rolled back; only a
    connection lost during COMMIT leaves the outcome unknown, as any downstream call's is."""

    def __init__(self, operation: str, cause: str) -> None:
        super().__init__("database", operation, cause)


class DatabaseBusy(DatabaseUnavailable):
    """A statement waited for another process's row lock longer than the loop may be held:
    its transaction rolled back, nothing was written. Run it again after a pause."""


class Database(ABC):
    """One connection to one service's database, used synchronously on the service's loop."""

    # Appended to a SELECT that reads rows the transaction will change on their strength:
    # " FOR UPDATE" on PostgreSQL; nothing on SQLite, where BEGIN IMMEDIATE already excludes
    # every other writer.
    lock_clause: ClassVar[str] = ""

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Cursor: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    @abstractmethod
    def add_column(self, table: str, column: str, declaration: str) -> None:
        """Add a column a newer release needs to a database written before it (no-op when
        present): an additive change keeps older databases usable instead of a reset."""

    @abstractmethod
    def close(self) -> None: ...

    def is_reachable(self) -> bool:
        try:
            self.execute("SELECT 1").fetchone()
        except Exception:
            return False
        return True

    def wait_long_for_locks(self) -> None:
        """Inside a transaction: let it wait for other processes' locks longer than the loop's
        short bound: at start-up (seeding, migrating), or for what is no row but other commits
        (PostgreSQL's NOTIFY commits one at a time). Nothing to do where no one waits."""
        return

    @contextmanager
    def transaction(self, *, patient: bool = False) -> Iterator[Self]:
        """BEGIN ... COMMIT, rolled back on any exception: nothing is ever half-written.

        `patient`: only before the service serves (no request waits on its loop yet), it may
        wait for another replica's locks instead of failing as `DatabaseBusy`."""
        self.begin()
        try:
            if patient:
                self.wait_long_for_locks()
            yield self
            self.commit()
        except BaseException:
            # Also when COMMIT itself failed (busy, disk full): never leave the shared
            # connection inside a transaction, or every later BEGIN would fail.
            if self.in_transaction:
                self.rollback()
            raise


def open_database(
    location: Path | str, schema: str, version: int, name: str = "orderflow"
) -> Database:
    """The database at `location` (a file path, or a postgresql:// URL), with its schema.
    `name` tells the server whose connection it is (PostgreSQL's application_name)."""
    if str(location).startswith(("postgresql://", "postgres://")):
        from services.kernel import postgres  # the driver is loaded only when it is used

        return postgres.connect(str(location), schema, version, name=name)
    from services.kernel import sqlite

    return sqlite.open_database(location, schema, version)


class Store:
    """What every service's store shares: its own database, opened with its schema."""

    SCHEMA: ClassVar[str]
    # Raise when a column changes; new tables alone (CREATE ... IF NOT EXISTS) do not need it.
    SCHEMA_VERSION: ClassVar[int] = 1

    def __init__(self, database: Database) -> None:
        self._db = database

    @classmethod
    def open(cls, location: Path | str) -> Self:
        return cls(open_database(location, cls.SCHEMA, cls.SCHEMA_VERSION, _named(cls)))

    @property
    def database(self) -> Database:
        return self._db

    def close(self) -> None:
        self._db.close()

    def is_reachable(self) -> bool:
        return self._db.is_reachable()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the store's writes: all of them commit, or none."""
        with self._db.transaction():
            yield

    async def atomically(self, work: Callable[[], T]) -> T:
        """`work` in one transaction (no `await` inside); run again if it lost a race.

        Only PostgreSQL lets two processes both find a key absent and both insert it: the
        loser's insert fails, its transaction rolls back, and the second run finds the
        winner's row (a replay). On SQLite the first run never loses such a race. A run that
        found rows another process holds (`DatabaseBusy`) is run again after a pause."""

        async def once() -> T:
            return self._once(work)

        return await rerun_while_busy(self._db, once)

    def _once(self, work: Callable[[], T]) -> T:
        try:
            with self.transaction():
                return work()
        except ConstraintViolation as violation:
            if not violation.unique:
                raise
        with self.transaction():
            return work()


def _named(store: type[Store]) -> str:
    """`orderflow-<service>` for a service's store (services.<service>.store): what an operator
    sees in pg_stat_activity, and how a test finds one service's connections."""
    package, _, rest = store.__module__.partition(".")
    service = rest.partition(".")[0]
    return f"orderflow-{service}" if package == "services" and service else "orderflow"


# How long a transaction that found rows locked is retried for in all: as long as any one
# statement may run (PostgreSQL's statement_timeout). Not the loop's time: its pauses are
# awaited, and on a loaded machine the other processes' transactions (and this process's
# other contended runs, which take turns) can take a while.
BUSY_BUDGET_S: Final = 5.0
_FIRST_PAUSE_S: Final = 0.005
_LONGEST_PAUSE_S: Final = 0.1


async def rerun_while_busy(database: Database, attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()` (a whole transaction, or a use case with its unit of work) until it no
    longer meets rows another process holds, pausing between runs without holding the loop.

    The other transaction ends in microseconds to milliseconds; the pauses double from a few
    ms and are jittered, so that processes racing for the same rows do not come back in step.
    Past BUSY_BUDGET_S the last `DatabaseBusy` is the caller's."""
    turns = _turns_of(database)
    give_up = time.monotonic() + BUSY_BUDGET_S
    pause, runs, contended = _FIRST_PAUSE_S, 1, False
    try:
        while True:
            try:
                return await turns.run(attempt)
            except DatabaseBusy:
                if not contended:
                    turns.contended, contended = turns.contended + 1, True
                if time.monotonic() + pause > give_up:
                    log.warning("gave up after %d runs that met rows locked by others", runs)
                    raise
            await asyncio.sleep(pause * random.uniform(0.5, 1.0))
            pause, runs = min(pause * 2, _LONGEST_PAUSE_S), runs + 1
    finally:
        if contended:
            turns.contended -= 1


class _Turns:
    """While some of a process's transactions meet rows other processes hold, its runs take
    turns, one per turn of the loop. Each such run may wait up to the lock timeout on the
    loop; many started in one turn (a burst of requests, a broker's prefetched messages) would
    otherwise wait one after the other, and hold the loop that many times as long."""

    def __init__(self) -> None:
        self.contended = 0  # callers between their first DatabaseBusy and their end
        self._lock: asyncio.Lock | None = None

    async def run(self, attempt: Callable[[], Awaitable[T]]) -> T:
        if not self.contended or _taking_turn.get():
            return await attempt()
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            await asyncio.sleep(0)  # the loop turns (timers, other tasks) between two runs
            token = _taking_turn.set(True)  # a run inside this one does not queue behind it
            try:
                return await attempt()
            finally:
                _taking_turn.reset(token)


_taking_turn: contextvars.ContextVar[bool] = contextvars.ContextVar("taking_turn", default=False)
_TURNS: weakref.WeakKeyDictionary[Database, _Turns] = weakref.WeakKeyDictionary()


def _turns_of(database: Database) -> _Turns:
    turns = _TURNS.get(database)
    if turns is None:
        turns = _TURNS[database] = _Turns()
    return turns
