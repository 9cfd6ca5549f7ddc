"""Inventory over GraphQL: the catalog, and reserve/release as mutations with result unions.

Parse, call one handler, map the result. The error map: the exception handlers below turn the
domain's refusals into union members (InvalidRequest → InvalidInput comes from the kernel).
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from fastapi import APIRouter

from services.inventory import domain
from services.inventory.handlers import InventoryHandlers
from services.kernel.contracts import MAX_LINES
from services.kernel.errors import Conflict, DomainError, NotFound
from services.kernel.graphql.context import GraphQLContext, context_getter
from services.kernel.graphql.errors import InvalidInput, Problem
from services.kernel.graphql.router import MAX_MESSAGE_BYTES, create_graphql_router
from services.kernel.graphql.schema import Schema, build_schema
from services.kernel.graphql.types import LineInput, lines_of

Info = strawberry.Info[GraphQLContext[InventoryHandlers], None]


@strawberry.type(description="A catalog entry with its current availability.")
class Product:
    sku: str
    name: str
    price_cents: int
    available: int

    @classmethod
    def of(cls, product: domain.Product) -> Product:
        return cls(
            sku=product.sku,
            name=product.name,
            price_cents=product.price_cents,
            available=product.available,
        )


@strawberry.type(description="A reserved line, priced from the catalog.")
class ReservedLine:
    sku: str
    quantity: int
    unit_price_cents: int


@strawberry.type(description="An order's reservation: every line, or none.")
class Reservation:
    order_id: str
    status: domain.ReservationStatus
    items: list[ReservedLine]
    total_cents: int

    @classmethod
    def of(cls, reservation: domain.Reservation) -> Reservation:
        return cls(
            order_id=reservation.order_id,
            status=reservation.status,
            items=[
                ReservedLine(sku=x.sku, quantity=x.quantity, unit_price_cents=x.unit_price_cents)
                for x in reservation.lines
            ],
            total_cents=reservation.total_cents,
        )


@strawberry.input(description="Reserve every line of an order or none; idempotent per orderId.")
class ReserveInput:
    order_id: str
    items: list[LineInput]


@strawberry.type(description="The order names SKUs the catalog does not know; nothing reserved.")
class UnknownSku(Problem):
    skus: list[str]


@strawberry.type
class Shortage:
    sku: str
    requested: int
    available: int


@strawberry.type(description="Not enough stock for some lines; nothing reserved.")
class OutOfStock(Problem):
    shortages: list[Shortage]


@strawberry.type(
    description="The order's reservation was already released (RESERVATION_RELEASED), or made "
    "with other lines (IDEMPOTENCY_MISMATCH)."
)
class ReservationConflict(Problem):
    order_id: str


ReserveResult = Annotated[
    Reservation | UnknownSku | OutOfStock | ReservationConflict | InvalidInput,
    strawberry.union("ReserveResult"),
]
ReleaseResult = Annotated[Reservation | InvalidInput, strawberry.union("ReleaseResult")]


class UnknownSkuHandler(strawberry.ExceptionHandler[domain.UnknownSku, UnknownSku]):
    def handle(self, exception: domain.UnknownSku, **_: Any) -> UnknownSku:
        skus = [str(sku) for sku in _listed(exception, "skus")]
        return UnknownSku(code=exception.code, message=exception.message, skus=skus)


class OutOfStockHandler(strawberry.ExceptionHandler[domain.OutOfStock, OutOfStock]):
    def handle(self, exception: domain.OutOfStock, **_: Any) -> OutOfStock:
        shortages = [Shortage(**shortage) for shortage in _listed(exception, "shortages")]
        return OutOfStock(code=exception.code, message=exception.message, shortages=shortages)


class ConflictHandler(strawberry.ExceptionHandler[Conflict, ReservationConflict]):
    def handle(self, exception: Conflict, **_: Any) -> ReservationConflict:
        order_id = str(exception.details.get("order_id", ""))
        return ReservationConflict(
            code=exception.code, message=exception.message, order_id=order_id
        )


def _listed(error: DomainError, key: str) -> list[Any]:
    found = error.details.get(key)
    return found if isinstance(found, list) else []


async def resolve_products(info: Info, skus: list[str] | None = None) -> list[Product]:
    wanted = None if skus is None else set(skus)
    found = await info.context.handlers.list_products()
    return [Product.of(p) for p in found if wanted is None or p.sku in wanted]


async def resolve_product(info: Info, sku: str) -> Product | None:
    try:
        return Product.of(await info.context.handlers.get_product(sku))
    except NotFound:
        return None


async def resolve_reserve(info: Info, input: ReserveInput) -> ReserveResult:
    reservation, _ = await info.context.handlers.reserve(input.order_id, lines_of(input.items))
    return Reservation.of(reservation)


async def resolve_release(info: Info, order_id: str) -> ReleaseResult:
    return Reservation.of(await info.context.handlers.release(order_id))


@strawberry.type
class Query:
    products: list[Product] = strawberry.field(
        resolver=resolve_products,
        description="The catalog, or only the SKUs asked for (unknown ones are left out).",
    )
    product: Product | None = strawberry.field(
        resolver=resolve_product,
        description="One product; null for a SKU the catalog does not know.",
    )


@strawberry.type
class Mutation:
    reserve: ReserveResult = strawberry.mutation(
        resolver=resolve_reserve, description="Reserve every line of an order, or none."
    )
    release: ReleaseResult = strawberry.mutation(
        resolver=resolve_release,
        description="Give the stock back (compensation; idempotent, also before the reservation).",
    )


def create_schema() -> Schema:
    return build_schema(
        query=Query,
        mutation=Mutation,
        exception_handlers=[UnknownSkuHandler(), OutOfStockHandler(), ConflictHandler()],
        # A reservation's lists have at most one entry per line of the order.
        list_bounds=dict.fromkeys(
            ("Reservation.items", "OutOfStock.shortages", "UnknownSku.skus"), MAX_LINES
        ),
    )


def create_router(max_message_bytes: int = MAX_MESSAGE_BYTES) -> APIRouter:
    return create_graphql_router(
        create_schema(),
        context_getter(InventoryHandlers, GraphQLContext[InventoryHandlers]),
        max_message_bytes,
    )
