"""Inventory over JSON-RPC 2.0 on a WebSocket (`/ws`): the catalog and reservations.

The order service's WebSocket client calls `reserve` and `release` here over one persistent
connection; the other methods mirror the REST endpoints for people and tools.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket

from services.inventory.api.rest import product_json, reservation_json
from services.inventory.handlers import InventoryHandlers
from services.kernel.http.app import handlers_of
from services.kernel.jsonrpc.dispatcher import Method, Peer
from services.kernel.jsonrpc.params import Params
from services.kernel.jsonrpc.server import DEFAULT_MAX_MESSAGE_BYTES, serve

Handlers = Annotated[InventoryHandlers, Depends(handlers_of(InventoryHandlers))]


def create_router(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws")
    async def jsonrpc(websocket: WebSocket, use: Handlers) -> None:
        methods = inventory_methods(use)
        await serve(websocket, methods, max_message_bytes=max_message_bytes)

    return router


def inventory_methods(use: InventoryHandlers) -> dict[str, Method]:
    async def list_products(params: Params, peer: Peer) -> list[dict[str, Any]]:
        params.allow()
        return [product_json(p) for p in await use.list_products()]

    async def get_product(params: Params, peer: Peer) -> dict[str, Any]:
        return product_json(await use.get_product(params.allow("sku").text("sku")))

    async def reserve(params: Params, peer: Peer) -> dict[str, Any]:
        params.allow("order_id", "items")
        reservation, _ = await use.reserve(params.text("order_id"), params.lines("items"))
        return reservation_json(reservation)

    async def get_reservation(params: Params, peer: Peer) -> dict[str, Any]:
        order_id = params.allow("order_id").text("order_id")
        return reservation_json(await use.get_reservation(order_id))

    async def release(params: Params, peer: Peer) -> dict[str, Any]:
        return reservation_json(await use.release(params.allow("order_id").text("order_id")))

    async def stock(params: Params, peer: Peer) -> dict[str, dict[str, int]]:
        params.allow()
        return await use.stock()

    return {
        "list_products": list_products,
        "get_product": get_product,
        "reserve": reserve,
        "get_reservation": get_reservation,
        "release": release,
        "stock": stock,
    }
