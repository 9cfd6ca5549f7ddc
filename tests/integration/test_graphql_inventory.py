"""The inventory GraphQL adapter in-process, over a real SQLite store seeded with the catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.main import create_app
from services.inventory.store import InventoryStore
from services.kernel.telemetry import Telemetry

RESERVE = """
mutation Reserve($input: ReserveInput!) {
  reserve(input: $input) {
    __typename
    ... on Reservation { orderId status totalCents items { sku quantity unitPriceCents } }
    ... on Problem { code message }
    ... on UnknownSku { skus }
    ... on OutOfStock { shortages { sku requested available } }
    ... on ReservationConflict { orderId }
    ... on InvalidInput { field }
  }
}"""
RELEASE = """
mutation Release($orderId: String!) {
  release(orderId: $orderId) { __typename ... on Reservation { status items { sku } } }
}"""


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = InventoryStore.open(tmp_path / "inventory.db")
    store.seed(SEED)
    app = create_app(store, InventoryHandlers(store), Telemetry("inventory"), max_body_bytes=8192)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inventory") as made:
        yield made
    store.close()


async def graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    answer = await client.post("/graphql", json={"query": query, "variables": variables})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def reserve(client: httpx.AsyncClient, order_id: str, **lines: int) -> dict[str, Any]:
    items = [{"sku": sku, "quantity": quantity} for sku, quantity in lines.items()]
    data = await graphql(client, RESERVE, input={"orderId": order_id, "items": items})
    result: dict[str, Any] = data["reserve"]
    return result


async def available(client: httpx.AsyncClient, sku: str) -> int:
    data = await graphql(
        client, "query P($sku: String!) { product(sku: $sku) { available } }", sku=sku
    )
    return int(data["product"]["available"])


async def test_the_catalog_whole_or_by_sku(client: httpx.AsyncClient) -> None:
    fields = "sku name priceCents available"
    every = await graphql(client, f"{{ products {{ {fields} }} }}")
    assert len(every["products"]) == len(SEED)
    some = await graphql(
        client,
        f"query P($skus: [String!]) {{ products(skus: $skus) {{ {fields} }} }}",
        skus=["POSTER-LTD", "NOPE"],
    )
    assert some["products"] == [
        {"sku": "POSTER-LTD", "name": "Limited edition poster", "priceCents": 4999, "available": 10}
    ]
    assert await graphql(client, '{ product(sku: "NOPE") { sku } }') == {"product": None}


async def test_a_reservation_is_priced_and_idempotent(client: httpx.AsyncClient) -> None:
    first = await reserve(client, "o1", **{"POSTER-LTD": 2, "KB-MECH": 1})
    assert (first["__typename"], first["status"], first["totalCents"]) == (
        "Reservation",
        "RESERVED",
        2 * 4999 + 8999,
    )
    assert await reserve(client, "o1", **{"KB-MECH": 1, "POSTER-LTD": 2}) == first
    other = await reserve(client, "o1", **{"KB-MECH": 2})
    assert (other["__typename"], other["code"], other["orderId"]) == (
        "ReservationConflict",
        "IDEMPOTENCY_MISMATCH",
        "o1",
    )
    assert await available(client, "POSTER-LTD") == 8


async def test_refusals_are_members_and_reserve_nothing(client: httpx.AsyncClient) -> None:
    short = await reserve(client, "o1", **{"KB-MECH": 1, "POSTER-LTD": 11})
    assert (short["__typename"], short["code"]) == ("OutOfStock", "OUT_OF_STOCK")
    assert short["shortages"] == [{"sku": "POSTER-LTD", "requested": 11, "available": 10}]
    unknown = await reserve(client, "o2", NOPE=1)
    assert (unknown["__typename"], unknown["code"], unknown["skus"]) == (
        "UnknownSku",
        "UNKNOWN_SKU",
        ["NOPE"],
    )
    invalid = await reserve(client, "o3", **{"KB-MECH": 0})
    assert (invalid["__typename"], invalid["field"]) == ("InvalidInput", "items[0].quantity")
    assert await available(client, "KB-MECH") == 1_000_000
    assert await available(client, "POSTER-LTD") == 10


async def test_release_gives_stock_back_and_refuses_a_late_reservation(
    client: httpx.AsyncClient,
) -> None:
    await reserve(client, "o1", **{"POSTER-LTD": 3})
    for _ in range(2):
        released = await graphql(client, RELEASE, orderId="o1")
        assert released["release"]["status"] == "RELEASED"
    assert await available(client, "POSTER-LTD") == 10
    early = await graphql(client, RELEASE, orderId="o2")
    assert early["release"] == {"__typename": "Reservation", "status": "RELEASED", "items": []}
    late = await reserve(client, "o2", **{"POSTER-LTD": 1})
    assert (late["__typename"], late["code"]) == ("ReservationConflict", "RESERVATION_RELEASED")
    blank = await graphql(client, RELEASE, orderId=" ")
    assert blank["release"]["__typename"] == "InvalidInput"


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        (
            RESERVE,
            {"input": {"orderId": "o1", "items": [{"sku": "KB-MECH", "quantity": "2"}]}},
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (RESERVE, {"input": {"orderId": "o1"}}, "GRAPHQL_VALIDATION_FAILED"),
        ("{ products { sku { a { b { c { d { e { f } } } } } } } }", {}, "QUERY_TOO_DEEP"),
        ("{ products { " + "sku " * 1001 + "} }", {}, "QUERY_TOO_LARGE"),
        ("{ products(", {}, "GRAPHQL_PARSE_FAILED"),
    ],
)
async def test_bad_documents_are_errors_and_reserve_nothing(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], code: str
) -> None:
    answer = await client.post("/graphql", json={"query": query, "variables": variables})
    assert code in [e["extensions"]["code"] for e in answer.json()["errors"]]
    stock = (await client.get("/stock")).json()
    assert all(entry["held"] == 0 for entry in stock.values())
