"""The GraphQL documents the clients send, written once for the demo, the e2e tests and the
Locust users.

Two sizes of the order documents: the full ones (every order field, every failure member) for
the tests, which check what the schema answers; and the brief ones for the load generator,
which reads only the outcome, so that it spends its CPU on sending orders rather than parsing
fields it ignores.
"""

from __future__ import annotations

from typing import Any, Final

from websockets.typing import Subprotocol

from harness.clients.shapes import Request

PROTOCOL: Final = Subprotocol("graphql-transport-ws")  # the WebSocket subprotocol for subscriptions
ORDER_FIELDS: Final = """
  id customerId status reason totalCents createdAt updatedAt
  items { sku quantity unitPriceCents }
"""
PLACE_ORDER: Final = f"""
mutation Place($input: PlaceOrderInput!) {{
  placeOrder(input: $input) {{
    __typename
    ... on Order {{ {ORDER_FIELDS} }}
    ... on UnknownSku {{ code message order {{ {ORDER_FIELDS} }} }}
    ... on IdempotencyKeyReused {{ code message orderId }}
    ... on InvalidInput {{ code message field }}
  }}
}}"""
ORDER_UPDATES: Final = f"""
subscription Follow($orderId: ID!) {{ orderUpdates(orderId: $orderId) {{ {ORDER_FIELDS} }} }}
"""
ORDERS_WITH_PRODUCTS: Final = """
query Orders($customerId: String!) {
  orders(customerId: $customerId) {
    id status items { sku quantity product { sku name priceCents available } }
  }
}"""

# The load generator's: only what it checks.
PRODUCTS: Final = "{ products { sku name priceCents available } }"
ORDER: Final = "query Order($id: ID!) { order(id: $id) { id status reason totalCents } }"
NOOP: Final = "{ __typename }"
PLACE_ORDER_BRIEF: Final = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    __typename
    ... on Order { id status reason }
    ... on UnknownSku { code message }
    ... on InvalidInput { code message }
    ... on IdempotencyKeyReused { code message }
  }
}"""
ORDER_UPDATES_BRIEF: Final = (
    "subscription Follow($id: ID!) { orderUpdates(orderId: $id) { status reason } }"
)


def place_input(request: Request) -> dict[str, Any]:
    """`PlaceOrderInput` from the shared place-order request."""
    return {
        "customerId": request["customer_id"],
        "items": request["items"],
        "paymentToken": request["payment_token"],
        "idempotencyKey": request.get("idempotency_key"),
    }


def payload(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of a GraphQL POST, and the payload of a graphql-transport-ws `subscribe`."""
    return {"query": query, "variables": variables or {}}
