"""The PostgreSQL seam under the stores: SQLite's query text runs as written, the schema is
versioned, the databases the project makes are its own, a dropped connection is replaced, and
a lock another process holds is not waited for on the loop."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import pytest

from harness.stack import postgres as databases
from services.kernel import postgres
from services.kernel.database import (
    ConstraintViolation,
    DatabaseBusy,
    DatabaseUnavailable,
    DatabaseUnreachable,
    OutdatedDatabase,
)
from tests.conftest import ADMIN_URL
from tests.tcp_gate import Gate, Mode

SCHEMA = """
CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY, flag INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS child (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED
);
"""


def test_a_failed_commit_rolls_back_and_the_connection_goes_on(postgres_url: str) -> None:
    db = postgres.connect(postgres_url, SCHEMA)
    with pytest.raises(ConstraintViolation), db.transaction():
        db.execute("INSERT INTO child VALUES (1, 42)")  # refused only at COMMIT
    assert not db.in_transaction
    with db.transaction():
        db.execute("INSERT INTO parent (id, flag) VALUES (?, ?)", (42, True))
        db.execute("INSERT INTO child VALUES (1, 42)")
    assert db.execute("SELECT id, flag FROM parent").fetchall()[0][:] == (42, 1)
    db.close()


def test_sqlite_placeholders_and_insert_or_ignore_run_as_written(postgres_url: str) -> None:
    db = postgres.connect(postgres_url, SCHEMA)
    db.execute("INSERT INTO parent (id) VALUES (:id)", {"id": 1})
    db.execute("INSERT OR IGNORE INTO parent (id) VALUES (?)", (1,))  # no error, no second row
    [row] = db.execute("SELECT id, ?1 AS a, ?1 || ?2 AS b FROM parent", ("x", "y")).fetchall()
    assert (row["id"], row["a"], row["b"], row.keys()) == (1, "x", "xy", ["id", "a", "b"])
    with pytest.raises(ConstraintViolation) as refused:
        db.execute("INSERT INTO parent (id) VALUES (?)", (1,))
    assert refused.value.unique
    db.close()


def test_a_database_of_another_schema_version_is_refused(postgres_url: str) -> None:
    postgres.connect(postgres_url, SCHEMA, version=1).close()
    with pytest.raises(OutdatedDatabase, match="orderflow up --reset"):
        postgres.connect(postgres_url, SCHEMA, version=2)
    postgres.connect(postgres_url, SCHEMA, version=1).close()  # the right one still opens


def test_a_service_whose_database_does_not_answer_is_told_which_variable() -> None:
    url = "postgresql://orderflow:secret@127.0.0.1:1/orderflow_order"
    with pytest.raises(DatabaseUnreachable, match="ORDERFLOW_DATABASE_URL") as refused:
        postgres.connect(url, SCHEMA)
    assert "secret" not in str(refused.value)  # the password stays out of logs


def test_only_databases_of_the_projects_own_are_created_or_dropped() -> None:
    for name in ("postgres", "template1", "orderflow", "someone_else", "orderflow_x; DROP"):
        with pytest.raises(ValueError, match="not a database of orderflow's own"):
            databases.drop(databases.DEFAULT_ADMIN_URL, name)
    assert databases.unique_name("test").startswith("orderflow_test_")


def test_an_unreachable_server_is_named_with_the_way_out() -> None:
    with pytest.raises(databases.PostgresUnavailable, match="ORDERFLOW_POSTGRES_ADMIN_URL"):
        databases.create("postgresql://postgres@127.0.0.1:1/postgres", "orderflow_test_x")


# A connection the server drops. Only the test's own backend is ever terminated (by its pid);
# an outage of the server is played by a gate in front of it (tcp_gate.py), never by the server.


def _terminate(backend_pid: int) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))


def _session(db: postgres.PostgresDatabase) -> tuple[str, str, str]:
    [row] = db.execute(
        "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'),"
        " current_setting('application_name')"
    ).fetchall()
    return row[0], row[1], row[2]


def test_a_connection_the_server_drops_is_replaced_with_its_settings(postgres_url: str) -> None:
    db = postgres.connect(postgres_url, SCHEMA, name="orderflow-test")
    settings = (postgres.LOCK_TIMEOUT, postgres.STATEMENT_TIMEOUT, "orderflow-test")
    assert _session(db) == settings
    dropped = db.connection.info.backend_pid
    _terminate(dropped)
    # Found lost at BEGIN, before anything was done: the transaction runs on a new connection.
    with db.transaction():
        db.execute("INSERT INTO parent (id) VALUES (?)", (1,))
    assert db.connection.info.backend_pid != dropped
    assert _session(db) == settings  # the session's settings came back with it
    assert db.is_reachable()
    db.close()


def test_a_read_outside_a_transaction_on_a_dropped_connection_reads_on_a_new_one(
    postgres_url: str,
) -> None:
    """A lookup (GET /orders/{id}) after the server dropped the idle connection answers, rather
    than failing once with 503; a readiness check reads as reachable at its first try."""
    db = postgres.connect(postgres_url, SCHEMA)
    with db.transaction():
        db.execute("INSERT INTO parent (id) VALUES (?)", (1,))
    dropped = db.connection.info.backend_pid
    _terminate(dropped)
    assert [row["id"] for row in db.execute("SELECT id FROM parent").fetchall()] == [1]
    assert db.connection.info.backend_pid != dropped
    _terminate(db.connection.info.backend_pid)
    assert db.is_reachable()
    db.close()


def test_a_write_outside_a_transaction_on_a_dropped_connection_is_not_sent_again(
    postgres_url: str,
) -> None:
    """It may have been done before the connection went: it fails, and the caller decides."""
    db = postgres.connect(postgres_url, SCHEMA)
    _terminate(db.connection.info.backend_pid)
    with pytest.raises(DatabaseUnavailable, match="connection was lost"):
        db.execute("INSERT INTO parent (id) VALUES (?)", (1,))
    assert db.execute("SELECT id FROM parent").fetchall() == []  # read on a new connection
    db.close()


def test_a_connection_lost_inside_a_transaction_fails_it_and_writes_nothing(
    postgres_url: str,
) -> None:
    db = postgres.connect(postgres_url, SCHEMA)
    with pytest.raises(DatabaseUnavailable, match="connection was lost"), db.transaction():
        db.execute("INSERT INTO parent (id) VALUES (?)", (1,))
        _terminate(db.connection.info.backend_pid)
        db.execute("INSERT INTO parent (id) VALUES (?)", (2,))
    assert not db.in_transaction
    with db.transaction():  # the next transaction opens a new connection and works
        db.execute("INSERT INTO parent (id) VALUES (?)", (3,))
    assert [row["id"] for row in db.execute("SELECT id FROM parent").fetchall()] == [3]
    db.close()


@pytest.mark.parametrize("outage", ["refuse", "silent"])
def test_while_the_server_is_away_requests_fail_at_once_and_then_work_again(
    postgres_url: str, outage: Mode
) -> None:
    """`refuse`: the server is down; `silent`: the network is cut, so a connect attempt waits
    its whole timeout (2 s), in a thread: the caller's loop waits for it only briefly."""
    gate = Gate()
    db = postgres.connect(gate.url(postgres_url), SCHEMA)
    gate.cut(outage)
    slowest, failures = 0.0, 0
    deadline = time.monotonic() + 3  # past a silent attempt's timeout, and a back-off or two
    while time.monotonic() < deadline:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            db.execute("SELECT 1")
        assert not db.is_reachable()  # what /ready reports
        slowest = max(slowest, time.monotonic() - started)
        failures += 1
        time.sleep(0.01)
    # Every call failed fast (a connect timeout is 2 s), and attempts were spaced out.
    assert slowest < 0.5 and failures > 20
    gate.open()
    recovered = _eventually(lambda: db.is_reachable(), within_s=3)
    with db.transaction():
        db.execute("INSERT INTO parent (id) VALUES (?)", (1,))
    assert recovered and _session(db)[0] == postgres.LOCK_TIMEOUT
    db.close()
    gate.close()


def _eventually(condition: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_lock_held_elsewhere_fails_a_statement_quickly_as_busy(postgres_url: str) -> None:
    """The loop waits for another process's row lock only LOCK_TIMEOUT (tens of ms), then the
    transaction rolls back as DatabaseBusy, for the caller to run again without the loop."""
    holder, waiter = postgres.connect(postgres_url, SCHEMA), postgres.connect(postgres_url, SCHEMA)
    holder.execute("INSERT INTO parent (id) VALUES (1)")
    with holder.transaction():
        holder.execute(f"SELECT * FROM parent WHERE id = 1{holder.lock_clause}")
        started = time.monotonic()
        with pytest.raises(DatabaseBusy), waiter.transaction():
            waiter.execute("UPDATE parent SET flag = 1 WHERE id = 1")
        waited = time.monotonic() - started
    assert waited < 0.5 and not waiter.in_transaction
    assert waiter.execute("SELECT flag FROM parent").fetchall() == [(0,)]
    holder.close()
    waiter.close()
