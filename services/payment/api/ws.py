"""Payment over JSON-RPC 2.0 on a WebSocket (`/ws`): charges, refunds and the audit summary.

The order service's WebSocket client calls `charge` and `refund` here over one persistent
connection; a decline is a result (status DECLINED), not an error, as over REST.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket

from services.kernel.http.app import handlers_of
from services.kernel.jsonrpc.dispatcher import Method, Peer
from services.kernel.jsonrpc.params import Params
from services.kernel.jsonrpc.server import DEFAULT_MAX_MESSAGE_BYTES, serve
from services.payment.api.rest import payment_json
from services.payment.domain import ChargeRequest
from services.payment.handlers import PaymentHandlers

Handlers = Annotated[PaymentHandlers, Depends(handlers_of(PaymentHandlers))]


def create_router(max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws")
    async def jsonrpc(websocket: WebSocket, use: Handlers) -> None:
        methods = payment_methods(use)
        await serve(websocket, methods, max_message_bytes=max_message_bytes)

    return router


def payment_methods(use: PaymentHandlers) -> dict[str, Method]:
    async def charge(params: Params, peer: Peer) -> dict[str, Any]:
        params.allow("order_id", "customer_id", "amount_cents", "payment_token")
        request = ChargeRequest(
            params.text("order_id"),
            params.text("customer_id"),
            params.integer("amount_cents"),
            params.text("payment_token"),
        )
        payment, _ = await use.charge(request)
        return payment_json(payment)

    async def refund(params: Params, peer: Peer) -> dict[str, Any]:
        return payment_json(await use.refund(params.allow("order_id").text("order_id")))

    async def get_payment(params: Params, peer: Peer) -> dict[str, Any]:
        return payment_json(await use.get(params.allow("order_id").text("order_id")))

    async def summary(params: Params, peer: Peer) -> dict[str, int]:
        params.allow()
        return await use.summary()

    return {
        "charge": charge,
        "refund": refund,
        "get_payment": get_payment,
        "summary": summary,
    }
