"""harness/bench/transactions.py: the price of a store transaction in the bound, measured on
the store the bench's stack uses (SQLite, or the machine's PostgreSQL with --store postgres)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from harness.bench.transactions import postgres_ms, sqlite_ms
from harness.stack import postgres
from harness.stack.ports import free_ports
from tests.conftest import ADMIN_URL


def test_a_sqlite_transaction_costs_some_cpu_and_leaves_no_file(tmp_path: Path) -> None:
    cost = sqlite_ms(tmp_path, count=50)
    assert 0 < cost < 50  # milliseconds of CPU for a one-row insert: never zero, never huge
    assert list(tmp_path.iterdir()) == []


def test_a_postgresql_transaction_counts_its_backend_on_this_machine() -> None:
    before = _scratch_databases()
    price = postgres_ms(ADMIN_URL, count=500)
    # psycopg's side in this process, and the server backend's, read from /proc: both work.
    assert 0 < price.client_ms < 50
    assert price.server_ms is not None and 0 < price.server_ms < 50
    assert price.cpu_ms == pytest.approx(price.client_ms + price.server_ms)
    assert _scratch_databases() == before  # its scratch database is dropped


def test_a_backend_that_cannot_be_read_leaves_the_clients_side_alone(tmp_path: Path) -> None:
    # A /proc without the backend (as for a server elsewhere, whose CPU the totals do not
    # count either): the price is the client's side, not zero and not a guess.
    price = postgres_ms(ADMIN_URL, count=100, proc=tmp_path)
    assert price.server_ms is None
    assert price.cpu_ms == price.client_ms > 0


def test_a_server_that_cannot_be_reached_is_said_clearly() -> None:
    (port,) = free_ports(1)  # nothing listens there
    with pytest.raises(postgres.PostgresUnavailable, match="cannot reach PostgreSQL"):
        postgres_ms(f"postgresql://postgres@127.0.0.1:{port}/postgres", count=10)


def _scratch_databases() -> set[str]:
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        rows = admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'orderflow\\_txcost\\_%'"
        ).fetchall()
    return {str(name) for (name,) in rows}
