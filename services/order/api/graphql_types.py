"""The order service's GraphQL types, its context, and its part of the error map."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader

from services.kernel.graphql.context import GraphQLContext
from services.kernel.graphql.errors import InvalidInput, Problem
from services.kernel.graphql.types import LineInput
from services.order import domain
from services.order.downstream import interfaces
from services.order.handlers import OrderHandlers

# The domain's enums under the names the schema shows (this call only registers the names).
strawberry.enum(domain.Status, name="OrderStatus")
strawberry.enum(domain.Reason, name="OrderReason")


class OrderContext(GraphQLContext[OrderHandlers]):
    def __init__(self, handlers: OrderHandlers, long_lived: bool) -> None:
        super().__init__(handlers, long_lived)
        # Every product a request resolves comes from one call to inventory. A subscription's
        # connection caches nothing, so each update shows availability as it is then.
        self.products: DataLoader[str, interfaces.Product | None] = DataLoader(
            self._load_products, cache=not long_lived
        )

    async def _load_products(self, skus: list[str]) -> list[interfaces.Product | None]:
        found = {product.sku: product for product in await self.handlers.products(set(skus))}
        return [found.get(sku) for sku in skus]


Info = strawberry.Info[OrderContext, None]


@strawberry.type(description="A catalog entry as inventory has it now.")
class Product:
    sku: str
    name: str
    price_cents: int
    available: int

    @classmethod
    def of(cls, product: interfaces.Product) -> Product:
        return cls(
            sku=product.sku,
            name=product.name,
            price_cents=product.price_cents,
            available=product.available,
        )


async def resolve_product(root: OrderLine, info: Info) -> Product | None:
    found = await info.context.products.load(root.sku)
    return Product.of(found) if found else None


@strawberry.type(description="One line of an order; the price is the catalog's, once reserved.")
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int | None
    product: Product | None = strawberry.field(
        resolver=resolve_product,
        description="The catalog entry (null for a SKU the catalog does not know). Every "
        "product of one request is fetched from inventory in one batched call.",
    )


@strawberry.type(description="An order and where its saga stands.")
class Order:
    id: strawberry.ID
    customer_id: str
    status: domain.Status
    reason: domain.Reason | None = strawberry.field(
        description="Why it was REJECTED or CANCELLED; null otherwise."
    )
    items: list[OrderLine]
    total_cents: int | None = strawberry.field(description="Null until inventory priced it.")
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, order: domain.Order) -> Order:
        return cls(
            id=strawberry.ID(order.id),
            customer_id=order.customer_id,
            status=order.status,
            reason=order.reason,
            items=[
                OrderLine(sku=x.sku, quantity=x.quantity, unit_price_cents=x.unit_price_cents)
                for x in order.lines
            ],
            total_cents=order.total_cents,
            created_at=order.created_at,
            updated_at=order.updated_at,
        )


@strawberry.input(description="Place an order. The same idempotencyKey returns the same order.")
class PlaceOrderInput:
    customer_id: str
    items: list[LineInput]
    payment_token: str = strawberry.field(
        description="tok_visa approves, tok_chargeDeclined declines."
    )
    idempotency_key: str | None = None
    callback_url: str | None = strawberry.field(
        default=None,
        description="Sent the final order by a signed webhook (Standard Webhooks); its host must"
        " be in ORDERFLOW_WEBHOOK_ALLOWED_HOSTS.",
    )


@strawberry.type(
    description="The order names a SKU the catalog does not know: it was recorded REJECTED/"
    "UNKNOWN_SKU, and nothing was reserved or charged."
)
class UnknownSku(Problem):
    order: Order


@strawberry.type(description="This idempotencyKey was already used with a different order.")
class IdempotencyKeyReused(Problem):
    order_id: strawberry.ID = strawberry.field(description="The order the key belongs to.")


PlaceOrderResult = Annotated[
    Order | UnknownSku | InvalidInput | IdempotencyKeyReused, strawberry.union("PlaceOrderResult")
]


class IdempotencyKeyReusedHandler(
    strawberry.ExceptionHandler[domain.IdempotencyMismatch, IdempotencyKeyReused]
):
    def handle(self, exception: domain.IdempotencyMismatch, **_: Any) -> IdempotencyKeyReused:
        order_id = strawberry.ID(str(exception.details.get("order_id", "")))
        return IdempotencyKeyReused(
            code=exception.code, message=exception.message, order_id=order_id
        )


class UnknownSkuHandler(strawberry.ExceptionHandler[domain.UnknownSku, UnknownSku]):
    def handle(self, exception: domain.UnknownSku, **_: Any) -> UnknownSku:
        order = Order.of(exception.order)
        return UnknownSku(code=exception.code, message=exception.message, order=order)
