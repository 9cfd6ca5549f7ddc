"""The payment GraphQL adapter in-process, over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kernel.telemetry import Telemetry
from services.payment.main import create_app, create_handlers
from services.payment.store import PaymentStore

CHARGE = """
mutation Charge($input: ChargeInput!) {
  charge(input: $input) {
    __typename
    ... on Payment { orderId customerId amountCents status }
    ... on Problem { code message }
    ... on ChargeConflict { orderId }
    ... on InvalidInput { field }
  }
}"""
REFUND = """
mutation Refund($orderId: String!) {
  refund(orderId: $orderId) { __typename ... on Payment { status amountCents } }
}"""


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = PaymentStore.open(tmp_path / "payment.db")
    telemetry = Telemetry("payment")
    app = create_app(create_handlers(store, telemetry), telemetry, max_body_bytes=4096)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payment") as made:
        yield made
    store.close()


async def graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    answer = await client.post("/graphql", json={"query": query, "variables": variables})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def charge(
    client: httpx.AsyncClient, order_id: str = "o1", amount: int = 14997, token: str = "tok_visa"
) -> dict[str, Any]:
    charge_input = {
        "orderId": order_id,
        "customerId": "c1",
        "amountCents": amount,
        "paymentToken": token,
    }
    result: dict[str, Any] = (await graphql(client, CHARGE, input=charge_input))["charge"]
    return result


async def summary(client: httpx.AsyncClient) -> dict[str, int]:
    found: dict[str, int] = (await client.get("/payments/summary")).json()
    return found


async def test_a_charge_happens_once_and_a_decline_is_recorded(client: httpx.AsyncClient) -> None:
    first = await charge(client)
    assert (first["__typename"], first["status"], first["amountCents"]) == (
        "Payment",
        "CHARGED",
        14997,
    )
    assert await charge(client) == first
    other = await charge(client, amount=1)
    assert (other["__typename"], other["code"], other["orderId"]) == (
        "ChargeConflict",
        "IDEMPOTENCY_MISMATCH",
        "o1",
    )
    declined = await charge(client, "o2", token="tok_chargeDeclined")
    assert declined["status"] == "DECLINED"
    assert (await summary(client))["CHARGED"] == 1


async def test_refunds_and_a_charge_voided_before_it_arrived(client: httpx.AsyncClient) -> None:
    await charge(client)
    refunded = await graphql(client, REFUND, orderId="o1")
    assert refunded["refund"]["status"] == "REFUNDED"
    early = await graphql(client, REFUND, orderId="o2")
    assert early["refund"] == {"__typename": "Payment", "status": "VOIDED", "amountCents": 0}
    late = await charge(client, "o2")
    assert (late["__typename"], late["code"]) == ("ChargeConflict", "CHARGE_VOIDED")
    assert (await summary(client))["charged_cents"] == 0


async def test_reading_a_payment(client: httpx.AsyncClient) -> None:
    query = "query P($id: String!) { payment(orderId: $id) { status } }"
    assert await graphql(client, query, id="o1") == {"payment": None}
    await charge(client)
    assert await graphql(client, query, id="o1") == {"payment": {"status": "CHARGED"}}


@pytest.mark.parametrize(
    ("amount", "token", "field"),
    [
        (0, "tok_visa", "amountCents"),
        (-5, "tok_visa", "amountCents"),
        (10, "tok_x", "paymentToken"),
    ],
)
async def test_invalid_charges_are_members_and_charge_nothing(
    client: httpx.AsyncClient, amount: int, token: str, field: str
) -> None:
    refused = await charge(client, amount=amount, token=token)
    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "InvalidInput",
        "INVALID_REQUEST",
        field,
    )
    assert (await summary(client))["CHARGED"] == 0


async def test_an_amount_beyond_a_graphql_int_is_a_validation_error(
    client: httpx.AsyncClient,
) -> None:
    charge_input = {
        "orderId": "o1",
        "customerId": "c1",
        "amountCents": 2**31,
        "paymentToken": "tok_visa",
    }
    answer = await client.post(
        "/graphql", json={"query": CHARGE, "variables": {"input": charge_input}}
    )
    assert answer.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert (await summary(client))["CHARGED"] == 0
