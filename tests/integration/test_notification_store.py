from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kernel.database import ConstraintViolation
from services.kernel.paging import Page
from services.notification.domain import Notice, NotificationKind
from services.notification.store import LIST_LIMIT, NotificationStore


@pytest.fixture
def path(store_location: Path | str) -> Path | str:
    return store_location


@pytest.fixture
def store(path: Path | str) -> Iterator[NotificationStore]:
    opened = NotificationStore.open(path)
    yield opened
    opened.close()


def notice(
    order_id: str, customer_id: str = "cust-1", kind: NotificationKind = NotificationKind.CONFIRMED
) -> Notice:
    return Notice(order_id, customer_id, kind, None, f"Order {order_id} {kind.value}")


def add(store: NotificationStore, *notices: Notice) -> None:
    with store.transaction():
        for each in notices:
            store.add(each)


def test_a_notification_reads_back_identically(store: NotificationStore) -> None:
    with store.transaction():
        added = store.add(notice("ord-1"))
    assert added.duplicates == 0
    assert store.notification("ord-1") == added
    assert store.notification("ord-2") is None


def test_duplicates_are_counted_on_the_stored_row(store: NotificationStore) -> None:
    add(store, notice("ord-1"))
    first = store.notification("ord-1")
    assert first is not None
    with store.transaction():
        counted = store.count_duplicate(first)
    with store.transaction():
        store.count_duplicate(counted)
    stored = store.notification("ord-1")
    assert counted.duplicates == 1
    assert stored is not None
    assert stored.duplicates == 2
    assert store.summary() == {"notifications": 1, "duplicates": 2}


def test_one_order_has_one_notification_whatever_its_kind(store: NotificationStore) -> None:
    """An order ends once: the store refuses a second notification of it, of any kind, and
    keeps the first (the handlers check first; this is the rule that holds if they did not)."""
    add(store, notice("ord-1"))
    with pytest.raises(ConstraintViolation):
        add(store, notice("ord-1", kind=NotificationKind.CANCELLED))
    assert [(n.order_id, n.kind) for n in store.find("ord-1", None)] == [
        ("ord-1", NotificationKind.CONFIRMED)
    ]


def test_told_lists_every_notification_by_order(store: NotificationStore) -> None:
    add(store, notice("b"), notice("a", kind=NotificationKind.REJECTED))
    assert store.told() == [("a", "order.rejected"), ("b", "order.confirmed")]
    # A page reads one more row than it keeps, to know whether another follows.
    assert store.told(Page(limit=1)) == [("a", "order.rejected"), ("b", "order.confirmed")]
    assert store.told(Page(after="a", limit=1)) == [("b", "order.confirmed")]
    assert store.told(Page(after="b")) == []


def test_find_filters_and_orders_newest_first(store: NotificationStore) -> None:
    add(store, notice("a", "alice"), notice("b", "bob"), notice("c", "alice"))
    assert [n.order_id for n in store.find(None, "alice")] == ["c", "a"]
    assert [n.order_id for n in store.find("b", None)] == ["b"]
    assert store.find("b", "alice") == []
    assert [n.order_id for n in store.find("a", "alice")] == ["a"]


def test_find_is_limited(store: NotificationStore) -> None:
    add(store, *(notice(f"ord-{i}", "busy") for i in range(LIST_LIMIT + 5)))
    found = store.find(None, "busy")
    assert len(found) == LIST_LIMIT
    assert found[0].order_id == f"ord-{LIST_LIMIT + 4}"


def test_notifications_survive_a_reopen(store: NotificationStore, path: Path | str) -> None:
    add(store, notice("ord-1"))
    store.close()
    reopened = NotificationStore.open(path)
    try:
        assert reopened.summary() == {"notifications": 1, "duplicates": 0}
    finally:
        reopened.close()
