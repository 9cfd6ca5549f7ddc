"""The order REST adapter in-process: real SQLite store and saga, fakes of the downstream ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import new_event
from services.kernel.contracts import Line
from services.kernel.telemetry import Telemetry
from services.order.api import amqp as order_amqp
from services.order.choreography import OrderChoreography
from services.order.domain import PlaceOrder
from services.order.downstream.interfaces import Downstream
from services.order.handlers import OrderHandlers
from services.order.main import create_app
from services.order.saga import Saga
from services.order.store import OrderStore
from tests.unit.fakes import FakeInventory, FakeNotifier, FakePayment

PROBLEM = "application/problem+json"


class Stack:
    def __init__(self, path: Path) -> None:
        self.inventory = FakeInventory({"KB-MECH": 100, "MUG-RETIRED": 0}, {"KB-MECH": 8999})
        self.payment = FakePayment()
        self.store = OrderStore.open(path)
        saga = Saga(
            self.store, Downstream(self.inventory, self.payment, FakeNotifier()), Telemetry("order")
        )
        self.handlers = OrderHandlers(self.store, saga)


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    return Stack(tmp_path / "order.db")


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> Mapping[str, bool]:
        return await stack.handlers.is_ready()

    app = create_app(stack.handlers, Telemetry("order"), ready, max_body_bytes=4096)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as made:
        yield made


def order_body(sku: str = "KB-MECH", quantity: int = 2, token: str = "tok_visa") -> dict[str, Any]:
    return {
        "customer_id": "c1",
        "items": [{"sku": sku, "quantity": quantity}],
        "payment_token": token,
    }


async def test_place_then_read_and_list(client: httpx.AsyncClient) -> None:
    placed = await client.post("/orders", json=order_body())
    assert placed.status_code == 201
    order = placed.json()
    assert set(order) == {
        "id",
        "customer_id",
        "status",
        "reason",
        "items",
        "total_cents",
        "created_at",
        "updated_at",
    }
    assert (order["status"], order["reason"], order["total_cents"]) == ("CONFIRMED", None, 17998)
    assert order["items"] == [{"sku": "KB-MECH", "quantity": 2, "unit_price_cents": 8999}]
    assert placed.headers["Location"] == f"/orders/{order['id']}"
    assert placed.headers["X-Correlation-ID"] == order["id"]
    assert (await client.get(f"/orders/{order['id']}")).json() == order
    listed = (await client.get("/orders", params={"customer_id": "c1"})).json()
    assert listed == {"orders": [order]}
    saga = (await client.get(f"/orders/{order['id']}/saga")).json()
    assert [s["step"] for s in saga["steps"]] == ["place", "reserve", "charge", "confirm"]
    assert saga["style"] == "rest"


async def test_a_supplied_correlation_id_is_kept(client: httpx.AsyncClient) -> None:
    placed = await client.post("/orders", json=order_body(), headers={"X-Correlation-ID": "corr-1"})
    assert placed.headers["X-Correlation-ID"] == "corr-1"


async def test_outcomes_are_orders_in_their_final_state(client: httpx.AsyncClient) -> None:
    declined = (await client.post("/orders", json=order_body(token="tok_chargeDeclined"))).json()
    assert (declined["status"], declined["reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    sold_out = await client.post("/orders", json=order_body(sku="MUG-RETIRED", quantity=1))
    assert sold_out.status_code == 201
    assert (sold_out.json()["status"], sold_out.json()["reason"]) == ("REJECTED", "OUT_OF_STOCK")


async def test_unknown_sku_is_a_422_problem_with_the_rejected_order(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    answer = await client.post("/orders", json=order_body(sku="NOPE"))
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert body["code"] == "UNKNOWN_SKU" and body["order"]["status"] == "REJECTED"
    assert stack.payment.calls == [] and stack.inventory.stock["KB-MECH"] == 100


async def test_idempotency_key_replays_and_refuses_a_different_body(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await client.post("/orders", json=order_body(), headers=headers)
    again = await client.post("/orders", json=order_body(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await client.post("/orders", json=order_body(quantity=5), headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_MISMATCH")
    assert other.json()["order_id"] == first.json()["id"]
    assert len(stack.payment.charged()) == 1 and stack.inventory.stock["KB-MECH"] == 98


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"customer_id": "c1", "items": [', {}, 400, "MALFORMED_JSON"),
        (b'{"customer_id": "c1", "payment_token": "tok_visa"}', {}, 422, "INVALID_REQUEST"),
        (
            b'{"customer_id": "c1", "items": [{"sku": "KB-MECH", "quantity": 0}],'
            b' "payment_token": "tok_visa"}',
            {},
            422,
            "INVALID_REQUEST",
        ),
        (
            b'{"customer_id": "c1", "items": [{"sku": "KB-MECH", "quantity": -2}],'
            b' "payment_token": "tok_visa"}',
            {},
            422,
            "INVALID_REQUEST",
        ),
        (
            b'{"customer_id": "c1", "items": [{"sku": "KB-MECH", "quantity": 1.5}],'
            b' "payment_token": "tok_visa"}',
            {},
            422,
            "INVALID_REQUEST",
        ),
        (
            b'{"customer_id": "c1", "items": [{"sku": "KB-MECH", "quantity": 1}],'
            b' "payment_token": "tok_amex"}',
            {},
            422,
            "INVALID_REQUEST",
        ),
        (
            b'{"customer_id": "c1", "items": [{"sku": "KB-MECH", "quantity": 1}],'
            b' "payment_token": "tok_visa"}',
            {"Idempotency-Key": "k" * 300},
            422,
            "INVALID_REQUEST",
        ),
        (b'{"customer_id": "' + b"c" * 5000 + b'"}', {}, 413, "BODY_TOO_LARGE"),
    ],
)
async def test_bad_input_is_refused_and_nothing_moves(
    client: httpx.AsyncClient,
    stack: Stack,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    answer = await client.post(
        "/orders", content=body, headers={"content-type": "application/json", **headers}
    )
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.headers["content-type"] == PROBLEM
    assert stack.store.status_counts() == {}
    assert stack.inventory.calls == [] and stack.payment.calls == []


async def test_invalid_token_names_the_field(client: httpx.AsyncClient) -> None:
    answer = await client.post("/orders", json=order_body(token="tok_amex"))
    assert answer.json()["field"] == "payment_token"


async def test_missing_order_and_missing_customer_filter(client: httpx.AsyncClient) -> None:
    missing = await client.get("/orders/nope")
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")
    assert (await client.get("/orders/nope/saga")).status_code == 404
    assert (await client.get("/orders")).status_code == 422


async def test_downstream_outage_is_visible_in_the_order_not_a_crash(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    stack.inventory.outage.calls = 1
    answer = await client.post("/orders", json=order_body())
    assert answer.status_code == 201
    assert (answer.json()["status"], answer.json()["reason"]) == (
        "REJECTED",
        "INVENTORY_UNAVAILABLE",
    )
    assert stack.inventory.stock["KB-MECH"] == 100


async def test_audit_lists_orders_with_style_and_key_and_the_confirmed_units(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    empty: dict[str, Any] = {"orders": [], "next_after": None, "confirmed_units": {}}
    assert (await client.get("/audit")).json() == empty
    rest = await client.post("/orders", json=order_body(), headers={"Idempotency-Key": "k rest/1"})
    rejected = await client.post("/orders", json=order_body(sku="MUG-RETIRED"))
    declined = await client.post("/orders", json=order_body(token="tok_chargeDeclined"))
    grpc, _ = await stack.handlers.place_order(
        PlaceOrder("c2", (Line("KB-MECH", 3),), "tok_visa", "k-grpc", style="grpc")
    )
    broker = order_amqp.routes(
        OrderChoreography(stack.store, new_id=lambda: "o-broker"), stack.store.messages
    )
    command = {**order_body(), "idempotency_key": "k-broker"}
    await broker[ev.ORDER_PLACE](new_event(ev.ORDER_PLACE, "orderflow/test", command, "corr-1"))

    expected = [
        [rest.json()["id"], "CONFIRMED", None, "rest", "k rest/1", "DONE"],  # the key as sent
        [rejected.json()["id"], "REJECTED", "OUT_OF_STOCK", "rest", None, "DONE"],
        [declined.json()["id"], "CANCELLED", "PAYMENT_DECLINED", "rest", None, "DONE"],
        [grpc.id, "CONFIRMED", None, "grpc", "k-grpc", "DONE"],
        ["o-broker", "PENDING", None, "broker", "k-broker", "RUNNING"],
    ]
    audit = await client.get("/audit")
    assert audit.status_code == 200
    assert audit.json() == {
        "orders": sorted(expected),
        "next_after": None,
        "confirmed_units": {"KB-MECH": 5},  # CONFIRMED orders only: 2 over REST, 3 over gRPC
    }
    rest_only = {
        "orders": sorted(expected[:3]),
        "next_after": None,
        "confirmed_units": {"KB-MECH": 2},
    }
    assert await audit_of(client, style="rest") == rest_only
    grpc_only = {"orders": [expected[3]], "next_after": None, "confirmed_units": {"KB-MECH": 3}}
    assert await audit_of(client, style="grpc") == grpc_only
    broker_only: dict[str, Any] = {
        "orders": [expected[4]],
        "next_after": None,
        "confirmed_units": {},
    }
    assert await audit_of(client, style="broker") == broker_only
    assert await audit_of(client, style="websocket") == empty

    # A page at a time: every page says where the next starts and the units of all orders.
    pages = [await audit_of(client, limit="2")]
    while pages[-1]["next_after"] is not None:
        pages.append(await audit_of(client, limit="2", after=pages[-1]["next_after"]))
    assert [len(page["orders"]) for page in pages] == [2, 2, 1]
    assert [row for page in pages for row in page["orders"]] == sorted(expected)
    assert [page["next_after"] for page in pages] == [
        sorted(expected)[1][0],
        sorted(expected)[3][0],
        None,
    ]
    # Each page counts the units of its own CONFIRMED orders: REST's 2 and gRPC's 3.
    units = {rest.json()["id"]: 2, grpc.id: 3}
    for page in pages:
        confirmed = sum(units.get(row[0], 0) for row in page["orders"])
        assert page["confirmed_units"] == ({"KB-MECH": confirmed} if confirmed else {})
    rest_pages = await audit_of(client, style="rest", limit="1", after=sorted(expected[:3])[0][0])
    assert rest_pages["orders"] == [sorted(expected[:3])[1]]


async def audit_of(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    answer = await client.get("/audit", params=params)
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"after": "x" * 200}, "after"),
        ({"after": "tab\there"}, "after"),
    ],
)
async def test_an_audit_page_out_of_bounds_is_refused(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    """A page has at most 1000 rows: nobody reads a whole store in one request."""
    answer = await client.get("/audit", params=params)
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    refused = answer.json()
    assert refused["code"] == "INVALID_REQUEST"
    # The range and the identifier are the domain's rule (one field); a limit that is not a
    # number does not match the schema (one error per field).
    named = [refused.get("field")] + [error["field"] for error in refused.get("errors", [])]
    assert named.count(f"query.{field}") + named.count(field) == 1


async def test_audit_of_an_unknown_style_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.get("/audit", params={"style": "carrier-pigeon"})
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    assert answer.json()["code"] == "INVALID_REQUEST" and answer.json()["field"] == "style"
