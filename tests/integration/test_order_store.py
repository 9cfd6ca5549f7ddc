from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from services.kernel.contracts import Line
from services.kernel.database import ConstraintViolation
from services.kernel.paging import Page
from services.order import domain
from services.order.domain import Compensation, OrderLine, PlaceOrder, Reason, SagaState
from services.order.store import OrderStore

COMMAND = PlaceOrder("c1", (Line("KB-MECH", 2), Line("MOUSE-WL", 1)), "tok_visa", "key-1")


@pytest.fixture
def store(store_location: Path | str) -> Iterator[OrderStore]:
    opened = OrderStore.open(store_location)
    yield opened
    opened.close()


def test_round_trip_keeps_every_field_and_line_order(store: OrderStore) -> None:
    order = domain.new_order("o1", COMMAND, "t0")
    with store.transaction():
        store.add(order)
    assert store.get("o1") == order
    priced = (OrderLine("KB-MECH", 2, 8999), OrderLine("MOUSE-WL", 1, 2999))
    reserved = domain.reserved(order, priced, "t1")
    failed = domain.cancelled(reserved, Reason.PAYMENT_FAILED, "t2", Compensation(True, True))
    with store.transaction():
        store.update(failed)
    assert store.get("o1") == failed
    assert store.by_idempotency_key("key-1") == failed


def test_an_idempotency_key_is_unique_and_a_failed_transaction_leaves_nothing(
    store: OrderStore,
) -> None:
    with store.transaction():
        store.add(domain.new_order("o1", COMMAND, "t0"))
    with pytest.raises(ConstraintViolation), store.transaction():
        store.log("o2", "place", "accepted", "t0")  # would be orphaned...
        store.add(domain.new_order("o2", COMMAND, "t0"))  # ...and this key is taken
    assert store.get("o2") is None and store.history("o2") == []


def test_unfinished_lists_running_and_compensating_sagas_only(store: OrderStore) -> None:
    running = domain.new_order("o1", COMMAND, "t0")
    done = domain.rejected(
        domain.new_order("o2", PlaceOrder("c1", COMMAND.lines, "tok_visa"), "t0"),
        Reason.OUT_OF_STOCK,
        "t1",
        Compensation(),
    )
    with store.transaction():
        store.add(running)
        store.add(done)
        store.update(done)
    assert [o.id for o in store.unfinished()] == ["o1"]
    assert done.saga is SagaState.DONE
    assert store.status_counts() == {"PENDING": 1, "REJECTED": 1}


def test_lines_are_written_when_placed_and_priced_not_on_every_later_save(tmp_path: Path) -> None:
    """A saga saves its order at every step; only the reservation changes the lines (counted
    by SQLite triggers: the store's SQL is the same on both back ends)."""
    store = OrderStore.open(tmp_path / "order.db")
    with sqlite3.connect(tmp_path / "order.db") as watcher:
        watcher.execute("CREATE TABLE line_writes (n INTEGER)")
        for write in ("INSERT", "DELETE", "UPDATE"):
            watcher.execute(
                f"CREATE TRIGGER count_{write} AFTER {write} ON order_lines"
                " BEGIN INSERT INTO line_writes VALUES (1); END"
            )
    watcher.close()
    placed = domain.new_order("o1", COMMAND, "t0")
    priced = (OrderLine("KB-MECH", 2, 8999), OrderLine("MOUSE-WL", 1, 2999))
    reserved = domain.reserved(placed, priced, "t1")
    paid = domain.paid(reserved, "t2")
    steps = [placed, reserved, paid, domain.confirmed(paid, "t3")]
    writes = []
    for step in steps:
        with store.transaction():
            (store.add if step is placed else store.update)(step)
        assert store.get("o1") == step
        with sqlite3.connect(tmp_path / "order.db") as reader:
            writes.append(reader.execute("SELECT COUNT(*) FROM line_writes").fetchone()[0])
        reader.close()
    store.close()
    # 2 inserted at placement; the pricing rewrites them once (2 deleted, 2 inserted); then none.
    assert writes == [2, 6, 6, 6]


def test_the_audit_reads_a_page_of_orders_and_the_units_its_confirmed_orders_hold(
    store: OrderStore,
) -> None:
    """On both stores: a page starts after the id given, by id, and its units are its own."""
    for n, status in enumerate(("CONFIRMED", "CANCELLED", "CONFIRMED", "CONFIRMED")):
        placed = PlaceOrder(
            f"c{n}", (Line("KB-MECH", n + 1),), "tok_visa", style="rest" if n else "grpc"
        )
        with store.transaction():
            store.add(
                replace(domain.new_order(f"o{n}", placed, "t0"), status=domain.Status(status))
            )
    first = store.audited(None, Page(limit=2))
    assert [row.id for row in first] == [
        "o0",
        "o1",
        "o2",
    ]  # one more than the page: another follows
    assert store.confirmed_units(None, None, "o1") == {"KB-MECH": 1}  # o0's: o1 is CANCELLED
    assert [row.id for row in store.audited(None, Page(after="o1", limit=2))] == ["o2", "o3"]
    assert store.confirmed_units(None, "o1", "o3") == {"KB-MECH": 3 + 4}
    assert [row.id for row in store.audited("rest", Page(after="o0"))] == ["o1", "o2", "o3"]
    assert store.confirmed_units("rest", None, "o3") == {"KB-MECH": 7}  # o0 came in by gRPC
    assert store.audited(None, Page(after="o3")) == []
