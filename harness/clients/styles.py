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

from harness.clients.broker import BrokerOrderClient
from services._generated.orderflow.v1 import common_pb2, order_pb2, order_pb2_grpc
from services.kernel.config import Settings, bracketed

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Placed:
    order_id: str
    status: str
    reason: str | None
    total_cents: int | None


Request = dict[str, Any]  # the shared place-order shape, with an optional idempotency_key


def place_rest(settings: Settings, request: Request) -> Placed:
    body = {k: v for k, v in request.items() if k != "idempotency_key"}
    key = request.get("idempotency_key")
    headers = {"Idempotency-Key": key} if key else {}
    url = f"{settings.address('order').http_url}/orders"
    answer = httpx.post(url, json=body, headers=headers, timeout=TIMEOUT_S).json()
    return _from_document(answer.get("order", answer))


def place_grpc(settings: Settings, request: Request) -> Placed:
    address = settings.address("order")
    with grpc.insecure_channel(f"{bracketed(address.host)}:{address.grpc_port}") as channel:
        stub = order_pb2_grpc.OrderServiceStub(channel)
        message = order_pb2.PlaceOrderRequest(
            customer_id=request["customer_id"],
            items=[common_pb2.LineItem(**item) for item in request["items"]],
            payment_token=request["payment_token"],
            idempotency_key=request.get("idempotency_key") or "",
        )
        order = stub.PlaceOrder(message, timeout=TIMEOUT_S).order
    reason = order_pb2.Order.Reason.Name(order.reason)
    return Placed(
        order.id,
        order_pb2.Order.Status.Name(order.status),
        None if order.reason == order_pb2.Order.REASON_UNSPECIFIED else reason,
        order.total_cents if order.HasField("total_cents") else None,
    )


PLACE_ORDER = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    __typename
    ... on Order { id status reason totalCents }
    ... on UnknownSku { order { id status reason totalCents } }
    ... on Problem { code message }
  }
}"""


def place_graphql(settings: Settings, request: Request) -> Placed:
    variables = {
        "input": {
            "customerId": request["customer_id"],
            "items": request["items"],
            "paymentToken": request["payment_token"],
            "idempotencyKey": request.get("idempotency_key"),
        }
    }
    url = f"{settings.address('order').http_url}/graphql"
    payload = {"query": PLACE_ORDER, "variables": variables}
    result = httpx.post(url, json=payload, timeout=TIMEOUT_S).json()["data"]["placeOrder"]
    order = result.get("order", result)
    if "id" not in order:
        raise ValueError(f"placeOrder refused: {result.get('code')}: {result.get('message')}")
    return Placed(order["id"], order["status"], order["reason"], order["totalCents"])


def place_websocket(settings: Settings, request: Request) -> Placed:
    url = settings.address("order").http_url.replace("http://", "ws://", 1) + "/ws"
    call = {"jsonrpc": "2.0", "id": 1, "method": "place_order", "params": request}
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
