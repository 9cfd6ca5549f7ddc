"""Fixtures every test folder shares.

`store_location`: where a store test opens its store, once per back end: a SQLite file in the
test's directory, and a fresh database of the project's own (`orderflow_test_<random>`) on the
machine's PostgreSQL, dropped after the test. The PostgreSQL case fails, never skips, when the
server cannot be reached: the same tests prove both back ends or the run is red."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.stack import postgres

BACKENDS = ("sqlite", "postgresql")
ADMIN_URL = os.environ.get("ORDERFLOW_POSTGRES_ADMIN_URL", postgres.DEFAULT_ADMIN_URL)


@pytest.fixture(params=BACKENDS)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    if request.param == "sqlite":
        yield tmp_path / "store.db"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database only (for what SQLite cannot do: several processes)."""
    with fresh_postgres_database() as url:
        yield url


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new database of the project's own, dropped afterwards."""
    name = postgres.unique_name("test")
    try:
        url = postgres.create(ADMIN_URL, name)
    except postgres.PostgresUnavailable as error:
        pytest.fail(f"the PostgreSQL back end's tests need a server: {error}", pytrace=False)
    try:
        yield url
    finally:
        postgres.drop(ADMIN_URL, name)
