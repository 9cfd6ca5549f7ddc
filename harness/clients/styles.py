"""Place one order in a given style, as a client of that style would, and read back the outcome.

Blocking clients for the demo and for people at a prompt (the load harness has its own). Each
speaks the style's real protocol: HTTP/JSON, gRPC over HTTP/2 with the generated stubs, a
GraphQL mutation, JSON-RPC over a WebSocket, or an `order.place` command on the broker.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from websockets.sync.client import connect

from harness.clients import documents, shapes
from harness.clients.broker import BrokerOrderClient
from harness.clients.shapes import Request
from services._generated.orderflow.v1 import order_pb2_grpc
from services.kernel.config import Settings, bracketed

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Placed:
    order_id: str
    status: str
    reason: str | None
    total_cents: int | None


def place_rest(settings: Settings, request: Request) -> Placed:
    body, headers = shapes.rest_place(request)
    url = f"{settings.address('order').http_url}/orders"
    answer = httpx.post(url, json=body, headers=headers, timeout=TIMEOUT_S).json()
    return _from_document(answer.get("order", answer))


def place_grpc(settings: Settings, request: Request) -> Placed:
    address = settings.address("order")
    with grpc.insecure_channel(f"{bracketed(address.host)}:{address.grpc_port}") as channel:
        stub = order_pb2_grpc.OrderServiceStub(channel)
        order = stub.PlaceOrder(shapes.grpc_place(request), timeout=TIMEOUT_S).order
    total = order.total_cents if order.HasField("total_cents") else None
    return Placed(order.id, *shapes.grpc_outcome(order), total)


def place_graphql(settings: Settings, request: Request) -> Placed:
    url = f"{settings.address('order').http_url}/graphql"
    payload = documents.payload(documents.PLACE_ORDER, {"input": documents.place_input(request)})
    result = httpx.post(url, json=payload, timeout=TIMEOUT_S).json()["data"]["placeOrder"]
    order = result.get("order", result)
    if "id" not in order:
        raise ValueError(f"placeOrder refused: {result.get('code')}: {result.get('message')}")
    return Placed(order["id"], order["status"], order["reason"], order["totalCents"])


def place_websocket(settings: Settings, request: Request) -> Placed:
    url = settings.address("order").http_url.replace("http://", "ws://", 1) + "/ws"
    call = shapes.rpc_call(1, "place_order", request)
    with connect(url, proxy=None, open_timeout=TIMEOUT_S) as socket:
        socket.send(json.dumps(call))
        while True:  # order.updated notifications come first, then the answer
            message = json.loads(socket.recv(timeout=TIMEOUT_S))
            if message.get("id") == 1:
                break
    if "error" in message:
        order = message["error"].get("data", {}).get("order")
        if order is None:
            raise ValueError(f"place_order refused: {message['error']}")
        return _from_document(order)
    return _from_document(message["result"])


def place_broker(settings: Settings, request: Request) -> Placed:
    with BrokerOrderClient(settings.broker_url, settings.broker_namespace) as client:
        answer = client.place_and_wait(request, timeout_s=TIMEOUT_S)
    return _from_document(answer.data["order"])


PLACERS: dict[str, Callable[[Settings, Request], Placed]] = {
    "rest": place_rest,
    "grpc": place_grpc,
    "graphql": place_graphql,
    "websocket": place_websocket,
    "broker": place_broker,
}


def new_request(sku: str, quantity: int, token: str = "tok_visa") -> Request:
    return {
        "customer_id": "demo-customer",
        "items": [{"sku": sku, "quantity": quantity}],
        "payment_token": token,
        "idempotency_key": f"demo-{uuid.uuid4().hex[:12]}",
    }


def _from_document(order: dict[str, Any]) -> Placed:
    return Placed(order["id"], order["status"], order["reason"], order["total_cents"])
