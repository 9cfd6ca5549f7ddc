"""Orders over GraphQL: placeOrder, order/orders/products queries, and orderUpdates, a
subscription over graphql-transport-ws that follows one order to its terminal status.

Parse, call one handler, map the result. Expected failures are members of PlaceOrderResult
(the exception handlers in graphql_types plus the kernel's InvalidInput); an unknown order id
is a null `order`, and an unknown id in `orderUpdates` is an `error` message, NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import strawberry
from fastapi import APIRouter

from services.kernel import styles
from services.kernel.contracts import MAX_LINES
from services.kernel.errors import NotFound
from services.kernel.graphql.context import context_getter
from services.kernel.graphql.router import MAX_MESSAGE_BYTES, create_graphql_router
from services.kernel.graphql.schema import Schema, build_schema
from services.kernel.graphql.types import lines_of
from services.order import domain
from services.order.api.graphql_types import (
    IdempotencyKeyReusedHandler,
    Info,
    Order,
    OrderContext,
    PlaceOrderInput,
    PlaceOrderResult,
    Product,
    UnknownSkuHandler,
)
from services.order.handlers import MAX_LISTED, OrderHandlers


async def resolve_place_order(info: Info, input: PlaceOrderInput) -> PlaceOrderResult:
    command = domain.PlaceOrder(
        customer_id=input.customer_id,
        lines=lines_of(input.items),
        payment_token=input.payment_token,
        idempotency_key=input.idempotency_key,
        callback_url=input.callback_url,
        style=styles.GRAPHQL,
    )
    order, _ = await info.context.handlers.place_order(command)
    return Order.of(order)


async def resolve_order(info: Info, id: strawberry.ID) -> Order | None:
    try:
        return Order.of(await info.context.handlers.get_order(id))
    except NotFound:
        return None


async def resolve_orders(info: Info, customer_id: str) -> list[Order]:
    return [Order.of(order) for order in await info.context.handlers.list_orders(customer_id)]


async def resolve_products(info: Info) -> list[Product]:
    return [Product.of(product) for product in await info.context.handlers.products()]


async def resolve_order_updates(info: Info, order_id: strawberry.ID) -> AsyncIterator[Order]:
    updates = info.context.handlers.watch_order(order_id)
    # The first state is read before the stream is handed over, so an unknown id fails the
    # operation up front (an `error` message) rather than as a result of the stream.
    first = await anext(updates)
    return _starting_with(first, updates)


async def _starting_with(
    first: domain.Order, rest: AsyncIterator[domain.Order]
) -> AsyncGenerator[Order, None]:
    try:
        yield Order.of(first)
        async for order in rest:
            yield Order.of(order)
    finally:
        if isinstance(rest, AsyncGenerator):  # a client that leaves stops watching at once
            await rest.aclose()


@strawberry.type
class Query:
    order: Order | None = strawberry.field(
        resolver=resolve_order, description="One order; null for an id no order has."
    )
    orders: list[Order] = strawberry.field(
        resolver=resolve_orders, description="A customer's orders, newest first (at most 100)."
    )
    products: list[Product] = strawberry.field(
        resolver=resolve_products, description="The catalog, from inventory, as it is now."
    )


@strawberry.type
class Mutation:
    place_order: PlaceOrderResult = strawberry.mutation(
        resolver=resolve_place_order,
        description="Place an order and run its saga; answers with the order in its final "
        "state. Declined and out-of-stock orders are Orders (status and reason say so).",
    )


@strawberry.type
class Subscription:
    order_updates: AsyncIterator[Order] = strawberry.subscription(
        resolver=resolve_order_updates,
        description="The order now, then each change of its status; ends after a terminal one.",
    )


def create_schema() -> Schema:
    return build_schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        exception_handlers=[IdempotencyKeyReusedHandler(), UnknownSkuHandler()],
        list_bounds={"Query.orders": MAX_LISTED, "Order.items": MAX_LINES},
    )


def create_router(max_message_bytes: int = MAX_MESSAGE_BYTES) -> APIRouter:
    return create_graphql_router(
        create_schema(), context_getter(OrderHandlers, OrderContext), max_message_bytes
    )
