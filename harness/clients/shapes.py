"""Each style's request shape, built in one place from the shared place-order request.

The demo's clients, the e2e tests and the Locust users each have their own transport (blocking
httpx/grpcio/websockets, or gevent's), but all build what they send here, so a change to a
contract is made once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from services._generated.orderflow.v1 import common_pb2, order_pb2

# {customer_id, items: [{sku, quantity}], payment_token, idempotency_key?}: the shape of REST's
# body, JSON-RPC's params and the broker's command, from which gRPC and GraphQL are derived.
Request = dict[str, Any]


@dataclass(frozen=True)
class Placed:
    """What a style's own answer to placing an order said."""

    order_id: str
    status: str
    reason: str | None
    total_cents: int | None

    @classmethod
    def from_json(cls, order: dict[str, Any]) -> Placed:
        """From the order's shared JSON shape (REST, JSON-RPC and the broker answer with it)."""
        return cls(order["id"], order["status"], order["reason"], order["total_cents"])


def order_request(
    items: dict[str, int],
    token: str = "tok_visa",
    customer: str | None = None,
    key: str | None = None,
) -> Request:
    """A place-order request for `items` (sku: quantity); a fresh customer unless named."""
    request: Request = {
        "customer_id": customer or f"c-{uuid.uuid4().hex[:12]}",
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items.items()],
        "payment_token": token,
    }
    if key:
        request["idempotency_key"] = key
    return request


def rest_place(request: Request) -> tuple[Request, dict[str, str]]:
    """POST /orders: the body, and the key as the Idempotency-Key header (not in the body)."""
    body = {k: v for k, v in request.items() if k != "idempotency_key"}
    key = request.get("idempotency_key")
    return body, ({"Idempotency-Key": key} if key else {})


# RFC 7240 preferences of the asynchronous front's POST /orders: 202 at once, then the order is
# run by the choreography (the broker style's front), or by REST's own saga (`rest-sse`).
CHOREOGRAPHED: Final = "respond-async"
ORCHESTRATED: Final = "respond-async, flow=orchestrated"


def rest_accept(request: Request, prefer: str = CHOREOGRAPHED) -> tuple[Request, dict[str, str]]:
    """POST /orders answered 202 at once: REST's body and headers, with the preference."""
    body, headers = rest_place(request)
    return body, {**headers, "Prefer": prefer}


def grpc_place(request: Request) -> order_pb2.PlaceOrderRequest:
    return order_pb2.PlaceOrderRequest(
        customer_id=request["customer_id"],
        items=[common_pb2.LineItem(**item) for item in request["items"]],
        payment_token=request["payment_token"],
        idempotency_key=request.get("idempotency_key") or "",
    )


def grpc_outcome(order: order_pb2.Order) -> tuple[str, str | None]:
    """(status, reason) as the shared JSON shape names them (reason None when unspecified)."""
    reason = order_pb2.Order.Reason.Name(order.reason)
    return order_pb2.Order.Status.Name(order.status), (
        None if order.reason == order_pb2.Order.REASON_UNSPECIFIED else reason
    )


def rpc_call(call_id: int, method: str, params: object = None) -> dict[str, Any]:
    """A JSON-RPC 2.0 request object; `params` left out when None (the spec allows it)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": call_id, "method": method}
    if params is not None:
        message["params"] = params
    return message
