"""The order flow over GraphQL, through the four real service processes: placeOrder over HTTP,
orderUpdates over a real graphql-transport-ws connection, and GraphQL downstream."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from harness.clients.documents import ORDER_UPDATES, ORDERS_WITH_PRODUCTS, PLACE_ORDER
from harness.clients.graphql import post, transport_ws, ws_url
from harness.stack.supervisor import Stack
from tests.e2e.graphql_client import place_input
from tests.e2e.metrics import sample_sum
from tests.e2e.rest_client import available, payment_summary

pytestmark = pytest.mark.e2e


def customer() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def place(
    http: httpx.Client,
    stack: Stack,
    items: dict[str, int],
    token: str = "tok_visa",
    key: str | None = None,
    who: str | None = None,
) -> dict[str, Any]:
    variables = {"input": place_input(items, who or customer(), token, key)}
    body = post(http, stack.url("order"), PLACE_ORDER, variables)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["placeOrder"]
    return result


def stock(http: httpx.Client, stack: Stack) -> dict[str, Any]:
    found: dict[str, Any] = http.get(f"{stack.url('inventory')}/stock").json()
    return found


def graphql_posts(stack: Stack, service: str) -> float:
    return sample_sum(
        stack, service, "orderflow_http_requests_total", method="POST", route="/graphql"
    )


def test_a_confirmed_order_is_priced_from_the_catalog(stack: Stack, http: httpx.Client) -> None:
    catalog = post(http, stack.url("order"), "{ products { sku priceCents } }")["data"]
    prices = {p["sku"]: p["priceCents"] for p in catalog["products"]}
    before = available(http, stack, "KB-MECH")
    order = place(http, stack, {"KB-MECH": 2, "CABLE-USBC": 1})
    assert (order["__typename"], order["status"], order["reason"]) == ("Order", "CONFIRMED", None)
    assert order["totalCents"] == 2 * prices["KB-MECH"] + prices["CABLE-USBC"] == 2 * 8999 + 999
    assert available(http, stack, "KB-MECH") == before - 2
    query = "query P($id: String!) { payment(orderId: $id) { status amountCents } }"
    paid = post(http, stack.url("payment"), query, {"id": order["id"]})["data"]["payment"]
    assert paid == {"status": "CHARGED", "amountCents": order["totalCents"]}
    read = post(
        http,
        stack.url("order"),
        "query O($id: ID!) { order(id: $id) { status } }",
        {"id": order["id"]},
    )
    assert read["data"]["order"] == {"status": "CONFIRMED"}


def test_a_declined_payment_puts_the_stock_back(stack: Stack, http: httpx.Client) -> None:
    before = available(http, stack, "HEADSET")
    order = place(http, stack, {"HEADSET": 4}, token="tok_chargeDeclined")
    assert (order["status"], order["reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert available(http, stack, "HEADSET") == before


def test_out_of_stock_charges_nothing(stack: Stack, http: httpx.Client) -> None:
    before, payments = stock(http, stack), payment_summary(http, stack)
    order = place(http, stack, {"KB-MECH": 1, "MUG-RETIRED": 1})
    assert (order["__typename"], order["status"], order["reason"]) == (
        "Order",
        "REJECTED",
        "OUT_OF_STOCK",
    )
    assert stock(http, stack) == before and payment_summary(http, stack) == payments


def test_an_idempotent_retry_charges_once(stack: Stack, http: httpx.Client) -> None:
    key, who = f"key-{uuid.uuid4().hex}", customer()
    charged_before = payment_summary(http, stack)["CHARGED"]
    orders = [place(http, stack, {"MOUSE-WL": 1}, key=key, who=who) for _ in range(3)]
    assert len({o["id"] for o in orders}) == 1
    assert payment_summary(http, stack)["CHARGED"] == charged_before + 1
    before, payments = stock(http, stack), payment_summary(http, stack)
    other = place(http, stack, {"MOUSE-WL": 5}, key=key, who=who)
    assert (other["__typename"], other["orderId"]) == ("IdempotencyKeyReused", orders[0]["id"])
    assert stock(http, stack) == before and payment_summary(http, stack) == payments


@pytest.fixture
def paused_inventory(stack: Stack) -> Iterator[None]:
    stack.pause("inventory")
    try:
        yield
    finally:
        if stack.is_running("inventory"):
            stack.resume("inventory")


async def pending_order(client: httpx.AsyncClient, who: str) -> dict[str, Any]:
    query = "query L($c: String!) { orders(customerId: $c) { id status } }"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = await client.post("/graphql", json={"query": query, "variables": {"c": who}})
        if orders := answer.json()["data"]["orders"]:
            found: dict[str, Any] = orders[0]
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"no order for {who}")


async def test_the_subscription_streams_each_status_then_completes(
    stack: Stack, paused_inventory: None
) -> None:
    who = customer()
    async with httpx.AsyncClient(base_url=stack.url("order"), timeout=30) as client:
        variables = {"input": place_input({"KB-MECH": 1}, who)}
        placing = asyncio.create_task(
            client.post("/graphql", json={"query": PLACE_ORDER, "variables": variables})
        )
        pending = await pending_order(client, who)  # its saga waits on the frozen inventory
        async with transport_ws(ws_url(stack.url("order"))) as ws:
            await ws.subscribe("1", ORDER_UPDATES, {"orderId": pending["id"]})
            first = await ws.receive()
            assert (first["type"], first["payload"]["data"]["orderUpdates"]["status"]) == (
                "next",
                "PENDING",
            )
            stack.resume("inventory")
            rest = await ws.until_complete("1")
            await ws.subscribe("2", ORDER_UPDATES, {"orderId": "no-such-order"})
            unknown = await ws.receive()
        placed = (await placing).json()["data"]["placeOrder"]
    assert [p["data"]["orderUpdates"]["status"] for p in rest] == ["RESERVED", "PAID", "CONFIRMED"]
    last = rest[-1]["data"]["orderUpdates"]
    assert last == {k: v for k, v in placed.items() if k != "__typename"}
    assert (unknown["type"], unknown["payload"][0]["extensions"]["code"]) == ("error", "NOT_FOUND")


def test_orders_with_their_products_take_one_call_to_inventory(
    stack: Stack, http: httpx.Client
) -> None:
    who = customer()
    for items in ({"KB-MECH": 1, "MON-27": 1}, {"CABLE-USBC": 2}, {"HEADSET": 1, "KB-MECH": 1}):
        place(http, stack, items, who=who)
    posts_before = graphql_posts(stack, "inventory")
    body = post(http, stack.url("order"), ORDERS_WITH_PRODUCTS, {"customerId": who})
    assert graphql_posts(stack, "inventory") == posts_before + 1
    lines = [line for order in body["data"]["orders"] for line in order["items"]]
    assert len(lines) == 5 and all(line["product"]["sku"] == line["sku"] for line in lines)
    products = {line["sku"]: line["product"] for line in lines}
    assert products["MON-27"]["priceCents"] == 24999


def test_an_order_placed_over_graphql_travels_graphql_downstream(
    stack: Stack, http: httpx.Client
) -> None:
    def counts() -> tuple[float, ...]:
        return (
            sample_sum(
                stack,
                "order",
                "orderflow_downstream_calls_total",
                target="inventory",
                operation="graphql.reserve",
                outcome="ok",
            ),
            sample_sum(
                stack,
                "order",
                "orderflow_downstream_calls_total",
                target="payment",
                operation="graphql.charge",
                outcome="ok",
            ),
            graphql_posts(stack, "inventory"),
            graphql_posts(stack, "payment"),
            sample_sum(stack, "inventory", "orderflow_http_requests_total", route="/reservations"),
            sample_sum(stack, "payment", "orderflow_http_requests_total", route="/charges"),
        )

    before = counts()
    assert place(http, stack, {"MOUSE-WL": 1})["status"] == "CONFIRMED"
    after = counts()
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1, 0, 0]


def test_the_callers_correlation_id_reaches_every_service(stack: Stack, http: httpx.Client) -> None:
    correlation_id = f"corr-{uuid.uuid4().hex}"
    answer = http.post(
        f"{stack.url('order')}/graphql",
        json={
            "query": PLACE_ORDER,
            "variables": {"input": place_input({"KB-MECH": 1}, customer())},
        },
        headers={"X-Correlation-ID": correlation_id},
    )
    assert answer.headers["X-Correlation-ID"] == correlation_id
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logs = {s: stack.log_path(s).read_text() for s in ("order", "inventory", "payment")}
        if all(f"[{correlation_id}]" in text for text in logs.values()):
            break
        time.sleep(0.05)
    for service, text in logs.items():
        assert f"[{correlation_id}]" in text, f"{service} never logged {correlation_id}"


def place_body(**changes: Any) -> bytes:
    order_input = {**place_input({"KB-MECH": 1}, "bad-input"), **changes}
    return json.dumps({"query": PLACE_ORDER, "variables": {"input": order_input}}).encode()


def query_body(query: str) -> bytes:
    return json.dumps({"query": query}).encode()


# (body, HTTP status, an error code or the result member's __typename)
BAD_INPUT: list[tuple[str, bytes, int, str]] = [
    ("malformed JSON", b'{"query": "mutation {', 400, "BAD_REQUEST"),
    (
        "quantity as text",
        place_body(items=[{"sku": "KB-MECH", "quantity": "2"}]),
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    ("zero quantity", place_body(items=[{"sku": "KB-MECH", "quantity": 0}]), 200, "InvalidInput"),
    ("unknown token", place_body(paymentToken="tok_amex"), 200, "InvalidInput"),
    ("unknown SKU", place_body(items=[{"sku": "NO-SUCH-SKU", "quantity": 1}]), 200, "UnknownSku"),
    ("oversized body", place_body(customerId="c" * 70_000), 413, "BODY_TOO_LARGE"),
    (
        "over-deep query",
        query_body(
            '{ orders(customerId: "c") { items { product { sku { a { b { c { d } } } } } } } }'
        ),
        200,
        "QUERY_TOO_DEEP",
    ),
    (
        "over-large query",
        query_body('{ orders(customerId: "c") { ' + "id " * 1001 + "} }"),
        200,
        "QUERY_TOO_LARGE",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "expected"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_is_refused_clearly_and_moves_nothing(
    stack: Stack, http: httpx.Client, body: bytes, status: int, expected: str
) -> None:
    before, payments = stock(http, stack), payment_summary(http, stack)
    answer = http.post(
        f"{stack.url('order')}/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    found = answer.json()
    if "code" in found:  # the body limit's problem+json
        codes = [found["code"]]
    elif found.get("data") and found["data"].get("placeOrder"):
        codes = [found["data"]["placeOrder"]["__typename"]]
    else:
        codes = [error["extensions"]["code"] for error in found["errors"]]
    assert expected in codes, found
    assert stock(http, stack) == before and payment_summary(http, stack) == payments
    assert place(http, stack, {"CABLE-USBC": 1})["status"] == "CONFIRMED"  # still serving


async def test_a_malformed_socket_message_is_closed_and_the_service_serves_on(
    stack: Stack,
) -> None:
    async with transport_ws(ws_url(stack.url("order"))) as ws:
        await ws.socket.send('{"id": "1", "type": "subscribe", "payload": "not an object"}')
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    async with transport_ws(ws_url(stack.url("order"))) as ws:
        await ws.subscribe("q", "{ products { sku } }", {})
        [answer] = await ws.until_complete("q")
        assert len(answer["data"]["products"]) == 7
