"""Inventory over REST: catalog and reservations. Parse, call one handler, map the result."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from services.inventory.domain import Product, Reservation
from services.inventory.handlers import InventoryHandlers
from services.kernel.contracts import MAX_LINES
from services.kernel.http.app import handlers_of
from services.kernel.http.problem import REPLAYED, problem_responses
from services.kernel.http.schemas import (
    LineBody,
    StrictBody,
    documented,
    identifier,
    identifier_in_path,
)

# UNKNOWN_SKU is the caller's input error; OUT_OF_STOCK is a conflict with current stock.
PROBLEM_STATUSES = {"UNKNOWN_SKU": 422, "OUT_OF_STOCK": 409}


class ReserveBody(StrictBody):
    order_id: str = identifier()
    items: list[LineBody] = documented(minItems=1, maxItems=MAX_LINES)


Handlers = Annotated[InventoryHandlers, Depends(handlers_of(InventoryHandlers))]
router = APIRouter(tags=["inventory"])
Identifier = Annotated[str, identifier_in_path()]


@router.get("/products", summary="The catalog with current availability")
async def list_products(use: Handlers) -> list[dict[str, Any]]:
    return [product_json(p) for p in await use.list_products()]


@router.get("/products/{sku}", summary="One product", responses=problem_responses(404))
async def get_product(sku: Identifier, use: Handlers) -> dict[str, Any]:
    return product_json(await use.get_product(sku))


@router.post(
    "/reservations",
    status_code=status.HTTP_201_CREATED,
    summary="Reserve every line of an order, or none (idempotent per order_id)",
    responses={**REPLAYED, **problem_responses(409)},
)
async def reserve(body: ReserveBody, response: Response, use: Handlers) -> dict[str, Any]:
    lines = tuple(item.to_line() for item in body.items)
    reservation, created = await use.reserve(body.order_id, lines)
    if not created:
        response.status_code = status.HTTP_200_OK
    return reservation_json(reservation)


@router.get(
    "/reservations/{order_id}",
    summary="One order's reservation",
    responses=problem_responses(404),
)
async def get_reservation(order_id: Identifier, use: Handlers) -> dict[str, Any]:
    return reservation_json(await use.get_reservation(order_id))


@router.post(
    "/reservations/{order_id}/release",
    summary="Give the stock back (compensation; idempotent, also before the reservation)",
)
async def release(order_id: Identifier, use: Handlers) -> dict[str, Any]:
    return reservation_json(await use.release(order_id))


@router.get("/stock", summary="Initial, available and held units per SKU (for audits)")
async def stock(use: Handlers) -> dict[str, dict[str, int]]:
    return await use.stock()


def product_json(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price_cents": product.price_cents,
        "available": product.available,
    }


def reservation_json(reservation: Reservation) -> dict[str, Any]:
    return {
        "order_id": reservation.order_id,
        "status": reservation.status.value,
        "items": [
            {"sku": line.sku, "quantity": line.quantity, "unit_price_cents": line.unit_price_cents}
            for line in reservation.lines
        ],
        "total_cents": reservation.total_cents,
    }
