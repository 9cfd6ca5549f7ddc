"""Orders over gRPC (orderflow.v1.OrderService): place, read, and watch an order's status.

Parse the message, call one handler, map the result; errors become status codes in
services/kernel/grpc (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc

from services._generated.orderflow.v1 import order_pb2, order_pb2_grpc
from services.kernel import styles
from services.kernel.contracts import Line
from services.kernel.grpc import errors
from services.kernel.grpc.server import GrpcServer, Service
from services.kernel.grpc.server import create_server as build_server
from services.kernel.telemetry import Telemetry
from services.order.domain import Order, PlaceOrder, UnknownSku
from services.order.handlers import OrderHandlers

SERVICE_NAME = order_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name
NO_REASON = order_pb2.Order.REASON_UNSPECIFIED  # neither REJECTED nor CANCELLED
Context = grpc.aio.ServicerContext[Any, Any]


class OrderServicer(order_pb2_grpc.OrderServiceServicer):
    def __init__(self, handlers: OrderHandlers) -> None:
        self._use = handlers

    async def PlaceOrder(
        self, request: order_pb2.PlaceOrderRequest, context: Context
    ) -> order_pb2.PlaceOrderResponse:
        command = PlaceOrder(
            customer_id=request.customer_id,
            lines=tuple(Line(item.sku, item.quantity) for item in request.items),
            payment_token=request.payment_token,
            idempotency_key=request.idempotency_key or None,
            callback_url=request.callback_url or None,
            style=styles.GRPC,
        )
        try:
            order, created = await self._use.place_order(command)
        except UnknownSku as refused:
            await unknown_sku(context, refused)
        return order_pb2.PlaceOrderResponse(order=order_message(order), replayed=not created)

    async def GetOrder(
        self, request: order_pb2.GetOrderRequest, context: Context
    ) -> order_pb2.Order:
        return order_message(await self._use.get_order(request.id))

    async def WatchOrder(
        self, request: order_pb2.WatchOrderRequest, context: Context
    ) -> AsyncIterator[order_pb2.Order]:
        async for order in self._use.watch_order(request.id):
            yield order_message(order)


async def unknown_sku(context: Context, refused: UnknownSku) -> NoReturn:
    """As REST's 422 with the order: the client's input (INVALID_ARGUMENT, not the kernel map's
    FAILED_PRECONDITION for a refusal), naming the order it was recorded as."""
    order_id = refused.order.id
    detail = f"{refused.message}; it is recorded as order {order_id}, REJECTED/UNKNOWN_SKU"
    status = grpc.StatusCode.INVALID_ARGUMENT
    await errors.abort(context, status, refused.code, detail, order_id=order_id)


def order_message(order: Order) -> order_pb2.Order:
    return order_pb2.Order(
        id=order.id,
        customer_id=order.customer_id,
        status=order_pb2.Order.Status.Value(order.status.value),
        reason=order_pb2.Order.Reason.Value(order.reason) if order.reason else NO_REASON,
        items=[
            order_pb2.OrderItem(
                sku=line.sku, quantity=line.quantity, unit_price_cents=line.unit_price_cents
            )
            for line in order.lines
        ],
        total_cents=order.total_cents,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def create_server(
    handlers: OrderHandlers,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    telemetry: Telemetry | None = None,
) -> tuple[GrpcServer, int]:
    servicer = OrderServicer(handlers)

    def register(server: grpc.aio.Server) -> None:
        order_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server)

    services = [Service(SERVICE_NAME, register)]
    return build_server(
        services, host, port, max_message_bytes=max_message_bytes, telemetry=telemetry
    )
