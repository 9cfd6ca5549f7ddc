from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.notification.domain import Notice, NotificationKind
from services.notification.store import LIST_LIMIT, NotificationStore


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "notification.db"


@pytest.fixture
def store(path: Path) -> Iterator[NotificationStore]:
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
    assert store.notification("ord-1", NotificationKind.CONFIRMED) == added
    assert store.notification("ord-1", NotificationKind.CANCELLED) is None


def test_duplicates_are_counted_on_the_stored_row(store: NotificationStore) -> None:
    add(store, notice("ord-1"))
    first = store.notification("ord-1", NotificationKind.CONFIRMED)
    assert first is not None
    with store.transaction():
        counted = store.count_duplicate(first)
    with store.transaction():
        store.count_duplicate(counted)
    stored = store.notification("ord-1", NotificationKind.CONFIRMED)
    assert counted.duplicates == 1
    assert stored is not None
    assert stored.duplicates == 2
    assert store.summary() == {"notifications": 1, "duplicates": 2}


def test_one_order_may_have_one_notification_per_kind(store: NotificationStore) -> None:
    add(store, notice("ord-1"), notice("ord-1", kind=NotificationKind.CANCELLED))
    assert len(store.find("ord-1", None)) == 2


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


def test_notifications_survive_a_reopen(store: NotificationStore, path: Path) -> None:
    add(store, notice("ord-1"))
    store.close()
    reopened = NotificationStore.open(path)
    try:
        assert reopened.summary() == {"notifications": 1, "duplicates": 0}
    finally:
        reopened.close()
