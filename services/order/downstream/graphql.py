"""The order service's GraphQL clients for inventory and payment, and the catalog it shows.

Mutations over HTTP POST /graphql, through JsonClient (timeouts, correlation id, metrics). Each
answer maps onto the saga's ports exactly as the REST clients map theirs: a result member is a
result, a known refusal member is a typed refusal (UnknownSku/OutOfStock → ReservationRefused,
ChargeConflict → ChargeRefused), anything else (another member, GraphQL `errors`, a non-2xx
status, an answer of the wrong shape) is `DownstreamUnavailable`: the outcome is unknown. Each
answer is read inside the client's exchange, so one of the wrong shape is counted `unreadable`.
Operations are counted as `graphql.<name>` so the metrics tell this style's calls apart.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AsyncExitStack
from typing import Any

from services.kernel.config import Settings
from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable
from services.kernel.graphql.client import GraphQLClient
from services.kernel.telemetry import Telemetry
from services.order.domain import OrderLine
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeResult,
    ChargeStatus,
    Product,
    RefusalReason,
    ReservationRefused,
)
from services.order.downstream.rest import json_client

RESERVE = """
mutation Reserve($input: ReserveInput!) {
  reserve(input: $input) {
    __typename
    ... on Reservation { items { sku quantity unitPriceCents } }
    ... on Problem { code message }
  }
}"""
RELEASE = """
mutation Release($orderId: String!) {
  release(orderId: $orderId) { __typename ... on Problem { code message } }
}"""
CHARGE = """
mutation Charge($input: ChargeInput!) {
  charge(input: $input) {
    __typename
    ... on Payment { status }
    ... on Problem { code message }
  }
}"""
REFUND = """
mutation Refund($orderId: String!) {
  refund(orderId: $orderId) { __typename ... on Problem { code message } }
}"""
PRODUCTS = """
query Products($skus: [String!]) {
  products(skus: $skus) { sku name priceCents available }
}"""


def graphql_client(
    service: str, settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> GraphQLClient:
    return GraphQLClient(
        json_client(service, settings.call_timeout_s, settings, telemetry, resources)
    )


async def connect(
    settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> tuple[GraphQLInventory, GraphQLPayment]:
    return (
        GraphQLInventory(graphql_client("inventory", settings, telemetry, resources)),
        GraphQLPayment(graphql_client("payment", settings, telemetry, resources)),
    )


def connect_catalog(
    settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> GraphQLCatalog:
    return GraphQLCatalog(graphql_client("inventory", settings, telemetry, resources))


class GraphQLInventory:
    def __init__(self, client: GraphQLClient) -> None:
        self._client = client

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        items = [{"sku": line.sku, "quantity": line.quantity} for line in lines]
        variables = {"input": {"orderId": order_id, "items": items}}
        operation = "graphql.reserve"

        def read(answer: dict[str, Any]) -> tuple[OrderLine, ...]:
            if answer["__typename"] == "Reservation":
                return tuple(
                    OrderLine(item["sku"], item["quantity"], item["unitPriceCents"])
                    for item in answer["items"]
                )
            code = answer.get("code", "")
            if code in RefusalReason.__members__:
                raise ReservationRefused(RefusalReason(code), str(answer.get("message", "")))
            raise _unexpected(self._client, operation, answer)

        return await self._client.mutate(operation, RESERVE, variables, "reserve", read)

    async def release(self, order_id: str) -> None:
        operation = "graphql.release"
        read = _expect(self._client, operation, "Reservation")
        await self._client.mutate(operation, RELEASE, {"orderId": order_id}, "release", read)


class GraphQLPayment:
    def __init__(self, client: GraphQLClient) -> None:
        self._client = client

    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult:
        variables = {
            "input": {
                "orderId": order_id,
                "customerId": customer_id,
                "amountCents": amount_cents,
                "paymentToken": token,
            }
        }
        operation = "graphql.charge"

        def read(answer: dict[str, Any]) -> ChargeResult:
            if answer["__typename"] == "Payment":  # an unknown status: ValueError, unreadable
                return ChargeResult(ChargeStatus(answer["status"]))
            if answer["__typename"] == "ChargeConflict":
                raise ChargeRefused(str(answer.get("message", "")))
            raise _unexpected(self._client, operation, answer)

        return await self._client.mutate(operation, CHARGE, variables, "charge", read)

    async def refund(self, order_id: str) -> None:
        operation = "graphql.refund"
        read = _expect(self._client, operation, "Payment")
        await self._client.mutate(operation, REFUND, {"orderId": order_id}, "refund", read)


class GraphQLCatalog:
    def __init__(self, client: GraphQLClient) -> None:
        self._client = client

    async def products(self, skus: Collection[str] | None = None) -> list[Product]:
        operation = "graphql.products"
        variables = {"skus": None if skus is None else sorted(skus)}
        return await self._client.execute(operation, PRODUCTS, variables, "products", _products)


def _products(answer: Any) -> list[Product]:
    return [Product(p["sku"], p["name"], int(p["priceCents"]), int(p["available"])) for p in answer]


def _expect(
    client: GraphQLClient, operation: str, typename: str
) -> Callable[[dict[str, Any]], None]:
    """A reader for a compensation: the member `typename`, or an unknown outcome."""

    def read(answer: dict[str, Any]) -> None:
        if answer["__typename"] != typename:
            raise _unexpected(client, operation, answer)

    return read


def _unexpected(client: GraphQLClient, operation: str, answer: dict[str, Any]) -> Exception:
    """A member this client does not understand: treat the outcome as unknown."""
    cause = f"{answer.get('__typename', '?')} {answer.get('code', '')}".strip()
    return DownstreamUnavailable(client.service, operation, cause)
