"""Orders over JSON-RPC 2.0 on a WebSocket (`/ws`): place, read, and live `order.updated` pushes.

Every order placed on a socket is followed by a task that the socket owns: it pushes each status
change as an `order.updated` notification and ends after the terminal one (or when the socket
closes). The response to `place_order` is sent after those pushes, so a client sees the whole
story, in order, before the answer. The follower is one of the process's bounded watchers
(updates.py): with no room left, `place_order` is refused before the order is recorded.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, WebSocket

from services.kernel import styles
from services.kernel.http.app import handlers_of
from services.kernel.jsonrpc.dispatcher import Method, Peer
from services.kernel.jsonrpc.params import Params
from services.kernel.jsonrpc.server import DEFAULT_MAX_MESSAGE_BYTES, serve
from services.order.domain import Order, PlaceOrder, UnknownSku, document
from services.order.handlers import OrderHandlers
from services.order.updates import Room

UPDATED: Final = "order.updated"


Handlers = Annotated[OrderHandlers, Depends(handlers_of(OrderHandlers))]


def create_router(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws")
    async def jsonrpc(websocket: WebSocket, use: Handlers) -> None:
        methods = order_methods(use)
        await serve(websocket, methods, max_message_bytes=max_message_bytes)

    return router


def order_methods(use: OrderHandlers) -> dict[str, Method]:
    async def place_order(params: Params, peer: Peer) -> dict[str, Any]:
        command = place_command(params)
        # Room for the follower first: with none left (TooManyWatchers) nothing is recorded.
        room = use.watch_room()
        followers: list[asyncio.Task[None]] = []

        def follow(order: Order) -> None:
            follower = peer.spawn(push_updates(use, order.id, peer, room))
            # A follower cancelled before its first step (the socket closed) never enters
            # the watch that would release the room.
            follower.add_done_callback(lambda _: room.release())
            followers.append(follower)

        try:
            order, _ = await use.place_order(command, on_accepted=follow)
        except UnknownSku as refused:  # an error object (the kernel's map) after the pushes
            await pushed(followers, refused.order)
            raise
        finally:
            if not followers:  # refused before it was recorded: no follower took the room
                room.release()
        await pushed(followers, order)
        return document(order)

    async def get_order(params: Params, peer: Peer) -> dict[str, Any]:
        return document(await use.get_order(params.allow("id").text("id")))

    return {"place_order": place_order, "get_order": get_order}


async def pushed(followers: list[asyncio.Task[None]], order: Order) -> None:
    if followers and order.is_terminal:  # the follower ends on it: its pushes go first
        await asyncio.wait(followers)


def place_command(params: Params) -> PlaceOrder:
    params.allow("customer_id", "items", "payment_token", "idempotency_key", "callback_url")
    return PlaceOrder(
        customer_id=params.text("customer_id"),
        lines=params.lines("items"),
        payment_token=params.text("payment_token"),
        idempotency_key=params.optional_text("idempotency_key"),
        callback_url=params.optional_text("callback_url"),
        style=styles.WEBSOCKET,
    )


async def push_updates(use: OrderHandlers, order_id: str, peer: Peer, room: Room) -> None:
    async for order in use.watch_order(order_id, room):
        await peer.notify(UPDATED, document(order))
