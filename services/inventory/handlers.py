"""Inventory use cases: the only entry into the inventory domain, shared by every adapter.

Each use case runs its read-check-write inside one transaction with no `await` in between, so two
orders racing for the last units cannot both pass the stock check (on PostgreSQL, across
processes, because the stock is read with its rows locked: store.py).
"""

from __future__ import annotations

import logging

from services.inventory.domain import (
    OutOfStock,
    Product,
    Reservation,
    ReservationStatus,
    UnknownSku,
    check_replay,
    plan_reservation,
)
from services.inventory.store import InventoryStore
from services.kernel import tracing
from services.kernel.broker import catalogue as ev
from services.kernel.broker.unit_of_work import UnitOfWork
from services.kernel.contracts import Line, check_identifier
from services.kernel.errors import NotFound
from services.kernel.faults import OPERATIONS, Faults

log = logging.getLogger(__name__)


class InventoryHandlers:
    def __init__(self, store: InventoryStore, faults: Faults | None = None) -> None:
        self._store = store
        self._faults = faults or Faults(OPERATIONS["inventory"])

    async def list_products(self) -> list[Product]:
        await self._faults.before("inventory.products")
        return list(self._store.products().values())

    async def get_product(self, sku: str) -> Product:
        await self._faults.before("inventory.products")
        product = self._store.products([sku]).get(sku)
        if product is None:
            raise NotFound(f"no product with SKU {sku!r}", sku=sku)
        return product

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[Reservation, bool]:
        """Reserve every line or none. Returns the reservation and whether it is new."""
        await self._faults.before("inventory.reserve")
        with tracing.transaction("inventory.reserve"):
            return await self._store.atomically(lambda: self._reserve(order_id, lines))

    async def release(self, order_id: str) -> Reservation:
        """Give the stock back. Safe to repeat, and safe before the reservation ever arrived."""
        check_identifier("order_id", order_id)
        await self._faults.before("inventory.release")
        with tracing.transaction("inventory.release"):
            return await self._store.atomically(lambda: self._release(order_id))

    def _release(self, order_id: str) -> Reservation:
        """Inside the caller's transaction."""
        existing = self._store.reservation(order_id)
        if existing is None:
            self._store.add_release_marker(order_id)
        elif existing.status is ReservationStatus.RESERVED:
            self._store.mark_released(existing)
            log.info("order %s: released %s", order_id, _describe(existing))
        released = self._store.reservation(order_id)
        assert released is not None
        return released

    def _reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[Reservation, bool]:
        """Inside the caller's transaction."""
        existing = self._store.reservation(order_id)
        if existing is not None:
            return check_replay(existing, lines), False
        catalog = self._store.products((line.sku for line in lines), lock=True)
        reservation = plan_reservation(order_id, lines, catalog)
        self._store.add_reservation(reservation)
        log.info("order %s: reserved %s", order_id, _describe(reservation))
        return reservation, True

    # Broker style: reactions to events. Each runs in its unit of work, with the message's inbox
    # record and the events it emits, so a redelivered or duplicated event changes nothing.

    async def on_order_placed(self, placed: ev.OrderPlaced, uow: UnitOfWork) -> None:
        """Reserve for a placed order; answer inventory.reserved, or inventory.rejected."""
        lines = tuple(Line(item.sku, item.quantity) for item in placed.items)
        await self._faults.before("inventory.reserve")
        with uow:
            if uow.already_handled:
                return
            try:
                reservation, _ = self._reserve(placed.order_id, lines)
            except (UnknownSku, OutOfStock) as refused:
                uow.emit(ev.INVENTORY_REJECTED, _rejected(placed.order_id, refused))
                return
            reserved = ev.InventoryReserved(
                order_id=placed.order_id,
                customer_id=placed.customer_id,
                payment_token=placed.payment_token,
                items=_priced(reservation),
                total_cents=reservation.total_cents,
            )
            uow.emit(ev.INVENTORY_RESERVED, reserved)

    async def on_payment_declined(self, declined: ev.PaymentDeclined, uow: UnitOfWork) -> None:
        """Give the stock of a declined order back; answer inventory.released."""
        await self._faults.before("inventory.release")
        with uow:
            if uow.already_handled:
                return
            released = self._release(declined.order_id)
            answer = ev.InventoryReleased(
                order_id=declined.order_id, reason=declined.reason, items=_priced(released)
            )
            uow.emit(ev.INVENTORY_RELEASED, answer)

    async def on_order_voided(self, voided: ev.OrderVoided, uow: UnitOfWork) -> None:
        """The order service says nothing of this order stands: give its stock back. No event
        answers it (order.voided is the end of the line), so a forged chain cannot loop."""
        check_identifier("order_id", voided.order_id)
        await self._faults.before("inventory.release")
        with uow:
            if uow.already_handled:
                return
            released = self._release(voided.order_id)
        log.warning("order %s: voided (%s), %s", voided.order_id, voided.reason, released.status)

    async def get_reservation(self, order_id: str) -> Reservation:
        reservation = self._store.reservation(order_id)
        if reservation is None:
            raise NotFound(f"no reservation for order {order_id!r}", order_id=order_id)
        return reservation

    async def stock(self) -> dict[str, dict[str, int]]:
        return self._store.stock_summary()

    async def is_ready(self) -> dict[str, bool]:
        return {"database": self._store.is_reachable()}


def _priced(reservation: Reservation) -> list[ev.PricedItem]:
    return [
        ev.PricedItem(sku=line.sku, quantity=line.quantity, unit_price_cents=line.unit_price_cents)
        for line in reservation.lines
    ]


def _rejected(order_id: str, refused: UnknownSku | OutOfStock) -> ev.InventoryRejected:
    # The domain's refusal codes, spelled as the catalogue's literals so the type checker sees them.
    reason: ev.Rejection = "UNKNOWN_SKU" if isinstance(refused, UnknownSku) else "OUT_OF_STOCK"
    return ev.InventoryRejected(order_id=order_id, reason=reason, detail=str(refused))


def _describe(reservation: Reservation) -> str:
    return ", ".join(f"{line.quantity} x {line.sku}" for line in reservation.lines)
