from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.inventory.catalog import SEED
from services.inventory.domain import Reservation, ReservationStatus, ReservedLine
from services.inventory.store import InventoryStore
from services.kernel.database import ConstraintViolation


@pytest.fixture
def store(store_location: Path | str) -> Iterator[InventoryStore]:
    made = InventoryStore.open(store_location)
    made.seed(SEED)
    yield made
    made.close()


def test_seeding_twice_keeps_stock_that_moved(
    store: InventoryStore, store_location: Path | str
) -> None:
    with store.transaction():
        store.add_reservation(
            Reservation("o1", ReservationStatus.RESERVED, (ReservedLine("POSTER-LTD", 4, 4999),))
        )
    store.close()
    reopened = InventoryStore.open(store_location)
    reopened.seed(SEED)
    assert reopened.products(["POSTER-LTD"])["POSTER-LTD"].available == 6
    assert reopened.reservation("o1") is not None
    reopened.close()


def test_database_refuses_negative_stock_and_rolls_back(store: InventoryStore) -> None:
    too_many = Reservation(
        "o1",
        ReservationStatus.RESERVED,
        (ReservedLine("KB-MECH", 1, 8999), ReservedLine("POSTER-LTD", 11, 4999)),
    )
    with pytest.raises(ConstraintViolation), store.transaction():
        store.add_reservation(too_many)
    # All or nothing: the first line's stock came back and no reservation was recorded.
    assert store.products(["KB-MECH"])["KB-MECH"].available == 1_000_000
    assert store.reservation("o1") is None


def test_stock_summary_conserves_units(store: InventoryStore) -> None:
    line = ReservedLine("POSTER-LTD", 3, 4999)
    with store.transaction():
        store.add_reservation(Reservation("o1", ReservationStatus.RESERVED, (line,)))
        store.add_reservation(Reservation("o2", ReservationStatus.RESERVED, (line,)))
    held = store.reservation("o2")
    assert held is not None
    with store.transaction():
        store.mark_released(held)
    summary = store.stock_summary()["POSTER-LTD"]
    assert summary == {"initial": 10, "available": 7, "held": 3}
