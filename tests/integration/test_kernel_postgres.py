"""The PostgreSQL seam under the stores: SQLite's query text runs as written, the schema is
versioned, and the databases the project makes are its own."""

from __future__ import annotations

import pytest

from harness.stack import postgres as databases
from services.kernel import postgres
from services.kernel.database import ConstraintViolation, DatabaseUnreachable, OutdatedDatabase

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
