"""Inventory use cases: the only entry into the inventory domain, shared by every adapter.

Each use case runs its read-check-write inside one transaction with no `await` in between, so two
orders racing for the last units cannot both pass the stock check.
"""

from __future__ import annotations

import logging

from services.inventory.domain import (
    Product,
    Reservation,
    ReservationStatus,
    check_replay,
    plan_reservation,
)
from services.inventory.store import InventoryStore
from services.kernel.contracts import Line, check_identifier
from services.kernel.errors import NotFound

log = logging.getLogger(__name__)


class InventoryHandlers:
    def __init__(self, store: InventoryStore) -> None:
        self._store = store

    async def list_products(self) -> list[Product]:
        return list(self._store.products().values())

    async def get_product(self, sku: str) -> Product:
        product = self._store.products([sku]).get(sku)
        if product is None:
            raise NotFound(f"no product with SKU {sku!r}", sku=sku)
        return product

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[Reservation, bool]:
        """Reserve every line or none. Returns the reservation and whether it is new."""
        with self._store.transaction():
            existing = self._store.reservation(order_id)
            if existing is not None:
                return check_replay(existing, lines), False
            catalog = self._store.products(line.sku for line in lines)
            reservation = plan_reservation(order_id, lines, catalog)
            self._store.add_reservation(reservation)
        log.info("order %s: reserved %s", order_id, _describe(reservation))
        return reservation, True

    async def release(self, order_id: str) -> Reservation:
        """Give the stock back. Safe to repeat, and safe before the reservation ever arrived."""
        check_identifier("order_id", order_id)
        with self._store.transaction():
            existing = self._store.reservation(order_id)
            if existing is None:
                self._store.add_release_marker(order_id)
            elif existing.status is ReservationStatus.RESERVED:
                self._store.mark_released(existing)
                log.info("order %s: released %s", order_id, _describe(existing))
            released = self._store.reservation(order_id)
        assert released is not None
        return released

    async def get_reservation(self, order_id: str) -> Reservation:
        reservation = self._store.reservation(order_id)
        if reservation is None:
            raise NotFound(f"no reservation for order {order_id!r}", order_id=order_id)
        return reservation

    async def stock(self) -> dict[str, dict[str, int]]:
        return self._store.stock_summary()

    async def is_ready(self) -> dict[str, bool]:
        return {"database": self._store.is_reachable()}


def _describe(reservation: Reservation) -> str:
    return ", ".join(f"{line.quantity} x {line.sku}" for line in reservation.lines)
