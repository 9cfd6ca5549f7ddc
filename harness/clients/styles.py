"""Place one order in a given style, as a client of that style would, and read back the outcome.

Blocking clients for the demo and for people at a prompt (the load harness has its own
transport, and builds its requests from the same shapes.py and documents.py). Each speaks the
style's real protocol: HTTP/JSON, gRPC over HTTP/2 with the generated stubs, a GraphQL
mutation, JSON-RPC over a WebSocket, or an `order.place` command on the broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc as grpcio
import httpx

from harness.clients import graphql, grpc, rest, websocket
from harness.clients.broker import BrokerOrderClient
from harness.clients.shapes import Placed, Request
from services.kernel.config import Settings, bracketed

__all__ = ["PLACERS", "Placed", "Request", "new_request"]

TIMEOUT_S = 30.0


def place_rest(settings: Settings, request: Request) -> Placed:
    with httpx.Client(timeout=TIMEOUT_S) as http:
        return rest.place(http, settings.address("order").http_url, request)


def place_grpc(settings: Settings, request: Request) -> Placed:
    address = settings.address("order")
    with grpcio.insecure_channel(f"{bracketed(address.host)}:{address.grpc_port}") as channel:
        return grpc.place(channel, request)


def place_graphql(settings: Settings, request: Request) -> Placed:
    with httpx.Client(timeout=TIMEOUT_S) as http:
        return graphql.place(http, settings.address("order").http_url, request)


def place_websocket(settings: Settings, request: Request) -> Placed:
    url = settings.address("order").http_url.replace("http://", "ws://", 1) + "/ws"
    with websocket.rpc_socket(url) as socket:
        return websocket.place(socket, request)


def place_broker(settings: Settings, request: Request) -> Placed:
    with BrokerOrderClient(settings.broker_url, settings.broker_namespace) as client:
        answer = client.place_and_wait(request, timeout_s=TIMEOUT_S)
    return Placed.from_json(answer.data["order"])


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
