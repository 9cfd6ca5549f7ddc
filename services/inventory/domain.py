"""Inventory rules: pricing from the catalog and all-or-nothing reservation (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.kernel.contracts import Line, check_identifier, check_lines
from services.kernel.errors import Conflict, Rejected


class ReservationStatus(StrEnum):
    RESERVED = "RESERVED"
    RELEASED = "RELEASED"


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    available: int


@dataclass(frozen=True)
class ReservedLine:
    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class Reservation:
    order_id: str
    status: ReservationStatus
    lines: tuple[ReservedLine, ...]

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_price_cents for line in self.lines)

    def requested(self) -> tuple[Line, ...]:
        return tuple(Line(line.sku, line.quantity) for line in self.lines)


class UnknownSku(Rejected):
    code = "UNKNOWN_SKU"


class OutOfStock(Rejected):
    code = "OUT_OF_STOCK"


class ReservationReleased(Conflict):
    """The order was released (compensated) before this reservation arrived: refuse it late."""

    code = "RESERVATION_RELEASED"


class ReservationMismatch(Conflict):
    code = "IDEMPOTENCY_MISMATCH"


def plan_reservation(
    order_id: str, requested: tuple[Line, ...], catalog: Mapping[str, Product]
) -> Reservation:
    """Price every line from the catalog, or refuse the whole order (never a partial one)."""
    check_identifier("order_id", order_id)
    check_lines(requested)
    unknown = [line.sku for line in requested if line.sku not in catalog]
    if unknown:
        raise UnknownSku(f"unknown SKU(s): {', '.join(unknown)}", skus=unknown)
    shortages = [
        {"sku": line.sku, "requested": line.quantity, "available": catalog[line.sku].available}
        for line in requested
        if catalog[line.sku].available < line.quantity
    ]
    if shortages:
        skus = ", ".join(str(s["sku"]) for s in shortages)
        raise OutOfStock(f"not enough stock for: {skus}", shortages=shortages)
    lines = tuple(
        ReservedLine(line.sku, line.quantity, catalog[line.sku].price_cents) for line in requested
    )
    return Reservation(order_id, ReservationStatus.RESERVED, lines)


def check_replay(existing: Reservation, requested: tuple[Line, ...]) -> Reservation:
    """A repeated reservation for the same order returns the first one, unless it contradicts it."""
    if existing.status is ReservationStatus.RELEASED:
        raise ReservationReleased(
            f"reservation for order {existing.order_id} was already released",
            order_id=existing.order_id,
        )
    if sorted(existing.requested(), key=_by_sku) != sorted(requested, key=_by_sku):
        raise ReservationMismatch(
            f"order {existing.order_id} was already reserved with different lines",
            order_id=existing.order_id,
        )
    return existing


def _by_sku(line: Line) -> str:
    return line.sku
