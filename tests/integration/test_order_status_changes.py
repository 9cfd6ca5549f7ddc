"""The store numbers each order's statuses in the transaction that saves them: what the status
stream sends as event ids and resumes from (Last-Event-ID)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kernel.contracts import Line
from services.order import domain
from services.order.domain import Compensation, OrderLine, PlaceOrder, Reason, Status
from services.order.store import OrderStore
from tests.conftest import fresh_postgres_database

COMMAND = PlaceOrder("c1", (Line("KB-MECH", 1),), "tok_visa")
PRICED = (OrderLine("KB-MECH", 1, 8999),)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    """Both back ends: a save numbers a changed status in one statement of SQL they share."""
    if request.param == "sqlite":
        yield OrderStore.open(tmp_path / "order.db")
        return
    with fresh_postgres_database() as url:
        opened = OrderStore.open(url)
        try:
            yield opened
        finally:
            opened.close()


def test_each_new_status_is_numbered_and_a_save_without_one_adds_nothing(
    store: OrderStore,
) -> None:
    order = domain.new_order("o1", COMMAND, "t0")
    reserved = domain.reserved(order, PRICED, "t1")
    cancelled = domain.cancelled(reserved, Reason.PAYMENT_DECLINED, "t2", Compensation(True, False))
    with store.transaction():
        store.add(order)
        store.add(domain.new_order("o2", COMMAND, "t0"))  # numbered on its own
    for saved in (reserved, cancelled, domain.compensated(cancelled, "t3", Compensation())):
        with store.transaction():
            store.update(saved)
    changes = store.status_changes("o1")
    assert [(c.seq, c.status, c.reason, c.at) for c in changes] == [
        (1, Status.PENDING, None, "t0"),
        (2, Status.RESERVED, None, "t1"),
        (3, Status.CANCELLED, Reason.PAYMENT_DECLINED, "t2"),  # the compensation: no new status
    ]
    assert [c.seq for c in store.status_changes("o1", after=2)] == [3]
    assert [(c.seq, c.status) for c in store.status_changes("o2")] == [(1, Status.PENDING)]


def test_a_rolled_back_change_leaves_no_number(store: OrderStore) -> None:
    order = domain.new_order("o1", COMMAND, "t0")
    with store.transaction():
        store.add(order)
    with pytest.raises(RuntimeError), store.transaction():
        store.update(domain.reserved(order, PRICED, "t1"))
        raise RuntimeError("the transaction fails after the save")
    assert [c.status for c in store.status_changes("o1")] == [Status.PENDING]
