"""Inventory over gRPC (orderflow.v1.InventoryService): catalog, reservations and releases.

Out of stock and unknown SKUs are expected answers to Reserve, so they are a `refused` outcome
in the response; other errors become status codes in services/kernel/grpc.
"""

from __future__ import annotations

from typing import Any, Final

import grpc

from services._generated.orderflow.v1 import inventory_pb2, inventory_pb2_grpc
from services.inventory.domain import OutOfStock, Product, Reservation, UnknownSku
from services.inventory.handlers import InventoryHandlers
from services.kernel.contracts import Line
from services.kernel.grpc.server import GrpcServer, Service
from services.kernel.grpc.server import create_server as build_server
from services.kernel.telemetry import Telemetry

SERVICE_NAME = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name
REFUSALS: Final = {
    UnknownSku: inventory_pb2.Refusal.UNKNOWN_SKU,
    OutOfStock: inventory_pb2.Refusal.OUT_OF_STOCK,
}
Context = grpc.aio.ServicerContext[Any, Any]


class InventoryServicer(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, handlers: InventoryHandlers) -> None:
        self._use = handlers

    async def ListProducts(
        self, request: inventory_pb2.ListProductsRequest, context: Context
    ) -> inventory_pb2.ListProductsResponse:
        products = [product_message(p) for p in await self._use.list_products()]
        return inventory_pb2.ListProductsResponse(products=products)

    async def GetProduct(
        self, request: inventory_pb2.GetProductRequest, context: Context
    ) -> inventory_pb2.Product:
        return product_message(await self._use.get_product(request.sku))

    async def Reserve(
        self, request: inventory_pb2.ReserveRequest, context: Context
    ) -> inventory_pb2.ReserveResponse:
        lines = tuple(Line(item.sku, item.quantity) for item in request.items)
        try:
            reservation, created = await self._use.reserve(request.order_id, lines)
        except (UnknownSku, OutOfStock) as refusal:
            refused = inventory_pb2.Refusal(reason=REFUSALS[type(refusal)], detail=refusal.message)
            return inventory_pb2.ReserveResponse(refused=refused)
        reserved = reservation_message(reservation)
        return inventory_pb2.ReserveResponse(reserved=reserved, replayed=not created)

    async def Release(
        self, request: inventory_pb2.ReleaseRequest, context: Context
    ) -> inventory_pb2.Reservation:
        return reservation_message(await self._use.release(request.order_id))


def product_message(product: Product) -> inventory_pb2.Product:
    return inventory_pb2.Product(
        sku=product.sku,
        name=product.name,
        price_cents=product.price_cents,
        available=product.available,
    )


def reservation_message(reservation: Reservation) -> inventory_pb2.Reservation:
    return inventory_pb2.Reservation(
        order_id=reservation.order_id,
        status=inventory_pb2.Reservation.Status.Value(reservation.status.value),
        items=[
            inventory_pb2.ReservedItem(
                sku=line.sku, quantity=line.quantity, unit_price_cents=line.unit_price_cents
            )
            for line in reservation.lines
        ],
        total_cents=reservation.total_cents,
    )


def create_server(
    handlers: InventoryHandlers,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    telemetry: Telemetry | None = None,
) -> tuple[GrpcServer, int]:
    servicer = InventoryServicer(handlers)

    def register(server: grpc.aio.Server) -> None:
        inventory_pb2_grpc.add_InventoryServiceServicer_to_server(servicer, server)

    services = [Service(SERVICE_NAME, register)]
    return build_server(
        services, host, port, max_message_bytes=max_message_bytes, telemetry=telemetry
    )
