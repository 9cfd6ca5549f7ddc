"""The SQLite back end of the stores: all or nothing, and never stuck in a transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.kernel import sqlite
from services.kernel.database import ConstraintViolation, OutdatedDatabase

# A deferred foreign key is checked at COMMIT, which makes COMMIT itself fail.
SCHEMA = """
CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS child (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED
);
"""


def test_a_failed_commit_rolls_back_and_the_connection_goes_on(tmp_path: Path) -> None:
    db = sqlite.open_database(tmp_path / "t.db", SCHEMA)
    with pytest.raises(ConstraintViolation), db.transaction():
        db.execute("INSERT INTO child VALUES (1, 42)")
    assert not db.in_transaction
    with db.transaction():  # would fail "cannot start a transaction within a transaction"
        db.execute("INSERT INTO parent VALUES (42)")
        db.execute("INSERT INTO child VALUES (1, 42)")
    assert db.execute("SELECT count(*) FROM child").fetchone()[0] == 1
    db.close()


def test_a_database_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    sqlite.connect(tmp_path / "t.db", SCHEMA, version=1).close()
    with pytest.raises(OutdatedDatabase, match="orderflow up --reset"):
        sqlite.connect(tmp_path / "t.db", SCHEMA, version=2)
