"""Orders over JSON-RPC 2.0 on a WebSocket (`/ws`): place, read, and live `order.updated` pushes.

Every order placed on a socket is followed by a task that the socket owns: it pushes each status
change as an `order.updated` notification and ends after the terminal one (or when the socket
closes). The response to `place_order` is sent after those pushes, so a client sees the whole
story, in order, before the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from fastapi import APIRouter, WebSocket

from services.kernel import styles
from services.kernel.jsonrpc.dispatcher import Method, Peer
from services.kernel.jsonrpc.errors import INVALID_PARAMS, RpcError
from services.kernel.jsonrpc.params import Params
from services.kernel.jsonrpc.server import DEFAULT_MAX_MESSAGE_BYTES, handlers_from, serve
from services.order.domain import UNKNOWN_SKU_DETAIL, Order, PlaceOrder, document
from services.order.handlers import OrderHandlers

UPDATED: Final = "order.updated"


def create_router(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws")
    async def jsonrpc(websocket: WebSocket) -> None:
        methods = order_methods(handlers_from(websocket, OrderHandlers))
        await serve(websocket, methods, max_message_bytes=max_message_bytes)

    return router


def order_methods(use: OrderHandlers) -> dict[str, Method]:
    async def place_order(params: Params, peer: Peer) -> dict[str, Any]:
        followers: list[asyncio.Task[None]] = []

        def follow(order: Order) -> None:
            followers.append(peer.spawn(push_updates(use, order.id, peer)))

        order, _ = await use.place_order(place_command(params), on_accepted=follow)
        if followers and order.is_terminal:  # the follower ends on it: its pushes go first
            await asyncio.wait(followers)
        if order.names_unknown_sku:
            data = {"code": "UNKNOWN_SKU", "order": document(order)}
            raise RpcError(INVALID_PARAMS, UNKNOWN_SKU_DETAIL, data)
        return document(order)

    async def get_order(params: Params, peer: Peer) -> dict[str, Any]:
        return document(await use.get_order(params.allow("id").text("id")))

    return {"place_order": place_order, "get_order": get_order}


def place_command(params: Params) -> PlaceOrder:
    params.allow("customer_id", "items", "payment_token", "idempotency_key")
    return PlaceOrder(
        customer_id=params.text("customer_id"),
        lines=params.lines("items"),
        payment_token=params.text("payment_token"),
        idempotency_key=params.optional_text("idempotency_key"),
        style=styles.WEBSOCKET,
    )


async def push_updates(use: OrderHandlers, order_id: str, peer: Peer) -> None:
    async for order in use.watch_order(order_id):
        await peer.notify(UPDATED, document(order))
