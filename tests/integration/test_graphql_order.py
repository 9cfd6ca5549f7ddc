"""The order GraphQL adapter in-process: real SQLite store and saga, fakes of the downstream
ports (one of them gated, so a subscription can watch a saga step by step); WebSockets on a
real socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from harness.clients.documents import ORDER_FIELDS, ORDER_UPDATES, ORDERS_WITH_PRODUCTS, PLACE_ORDER
from harness.clients.graphql import transport_ws, ws_url
from services.kernel import correlation
from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable
from services.kernel.graphql.limits import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from services.kernel.graphql.router import MAX_MESSAGE_BYTES, MAX_OPERATIONS
from services.kernel.telemetry import Telemetry
from services.order.domain import OrderLine
from services.order.downstream.interfaces import Downstream, Product
from services.order.handlers import OrderHandlers
from services.order.main import create_app
from services.order.saga import Saga
from services.order.store import OrderStore
from tests.e2e.graphql_client import place_input, serving
from tests.unit.fakes import FakeInventory, FakeNotifier, FakePayment

MAX_BODY = 8192


@dataclass
class GatedInventory(FakeInventory):
    """Holds each reservation until `gate` opens; notes the correlation id it was called with."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    correlation_ids: list[str | None] = field(default_factory=list)

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        self.correlation_ids.append(correlation.current())
        self.reached.set()
        await self.gate.wait()
        return await super().reserve(order_id, lines)


@dataclass
class CountingCatalog:
    entries: list[Product]
    calls: list[set[str] | None] = field(default_factory=list)
    down: bool = False

    async def products(self, skus: Collection[str] | None = None) -> list[Product]:
        self.calls.append(None if skus is None else set(skus))
        if self.down:
            raise DownstreamUnavailable("inventory", "graphql.products", "fake outage")
        return [p for p in self.entries if skus is None or p.sku in skus]


class Stack:
    def __init__(self, path: Path) -> None:
        self.inventory = GatedInventory({"KB-MECH": 100, "MUG-RETIRED": 0}, {"KB-MECH": 8999})
        self.inventory.gate.set()
        self.payment = FakePayment()
        self.catalog = CountingCatalog(
            [
                Product("KB-MECH", "Mechanical keyboard", 8999, 100),
                Product("MUG-RETIRED", "Mug", 1299, 0),
            ]
        )
        self.store = OrderStore.open(path)
        downstream = Downstream(self.inventory, self.payment, FakeNotifier())
        saga = Saga(self.store, downstream, Telemetry("order"))
        self.handlers = OrderHandlers(self.store, saga, catalog=self.catalog)

        async def ready() -> Mapping[str, bool]:
            return await self.handlers.is_ready()

        self.app = create_app(self.handlers, Telemetry("order"), ready, max_body_bytes=MAX_BODY)


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    return Stack(tmp_path / "order.db")


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as made:
        yield made


async def graphql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def place(client: httpx.AsyncClient, items: dict[str, int], **options: Any) -> dict[str, Any]:
    variables = {"input": place_input(items, options.pop("customer", "c1"), **options)}
    body = await graphql(client, PLACE_ORDER, variables)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["placeOrder"]
    return result


async def test_place_then_read_and_list(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/graphql",
        json={"query": PLACE_ORDER, "variables": {"input": place_input({"KB-MECH": 2}, "c1")}},
    )
    order = answer.json()["data"]["placeOrder"]
    assert order["__typename"] == "Order"
    assert (order["status"], order["reason"], order["totalCents"]) == ("CONFIRMED", None, 17998)
    assert order["items"] == [{"sku": "KB-MECH", "quantity": 2, "unitPriceCents": 8999}]
    assert answer.headers["X-Correlation-ID"] == order["id"]
    fields = ORDER_FIELDS
    read = await graphql(client, f'{{ order(id: "{order["id"]}") {{ __typename {fields} }} }}')
    assert read["data"]["order"] == order
    listed = await graphql(client, f'{{ orders(customerId: "c1") {{ __typename {fields} }} }}')
    assert listed["data"]["orders"] == [order]


async def test_declined_and_out_of_stock_are_orders_with_a_reason(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    declined = await place(client, {"KB-MECH": 1}, token="tok_chargeDeclined")
    assert (declined["__typename"], declined["status"], declined["reason"]) == (
        "Order",
        "CANCELLED",
        "PAYMENT_DECLINED",
    )
    assert stack.inventory.stock["KB-MECH"] == 100  # released
    sold_out = await place(client, {"MUG-RETIRED": 1})
    assert (sold_out["status"], sold_out["reason"]) == ("REJECTED", "OUT_OF_STOCK")
    assert not any(call.startswith(f"charge:{sold_out['id']}") for call in stack.payment.calls)


async def test_unknown_sku_is_a_member_carrying_the_rejected_order(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    result = await place(client, {"NOPE": 1, "KB-MECH": 1})
    assert (result["__typename"], result["code"]) == ("UnknownSku", "UNKNOWN_SKU")
    assert (result["order"]["status"], result["order"]["reason"]) == ("REJECTED", "UNKNOWN_SKU")
    assert stack.payment.calls == [] and stack.inventory.stock["KB-MECH"] == 100
    read = await graphql(client, f'{{ order(id: "{result["order"]["id"]}") {{ status }} }}')
    assert read["data"]["order"] == {"status": "REJECTED"}


async def test_idempotency_key_replays_and_refuses_another_body(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    first = await place(client, {"KB-MECH": 1}, key="key-1")
    again = await place(client, {"KB-MECH": 1}, key="key-1")
    assert again == first
    other = await place(client, {"KB-MECH": 5}, key="key-1")
    assert (other["__typename"], other["code"], other["orderId"]) == (
        "IdempotencyKeyReused",
        "IDEMPOTENCY_MISMATCH",
        first["id"],
    )
    assert len(stack.payment.charged()) == 1 and stack.inventory.stock["KB-MECH"] == 99


async def test_an_unknown_order_is_null(client: httpx.AsyncClient) -> None:
    assert await graphql(client, '{ order(id: "nope") { id } }') == {"data": {"order": None}}


async def test_orders_with_their_products_take_one_call_to_the_catalog(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    for items in ({"KB-MECH": 1}, {"KB-MECH": 2, "MUG-RETIRED": 1}, {"NOPE": 1, "KB-MECH": 1}):
        await place(client, items, customer="lister")
    stack.catalog.calls.clear()
    body = await graphql(client, ORDERS_WITH_PRODUCTS, {"customerId": "lister"})
    lines = [line for order in body["data"]["orders"] for line in order["items"]]
    assert len(lines) == 5
    assert stack.catalog.calls == [{"KB-MECH", "MUG-RETIRED", "NOPE"}]
    products = {line["sku"]: line["product"] for line in lines}
    assert products["NOPE"] is None
    assert products["KB-MECH"] == {
        "sku": "KB-MECH",
        "name": "Mechanical keyboard",
        "priceCents": 8999,
        "available": 100,
    }


async def test_a_catalog_outage_is_an_error_and_the_service_keeps_serving(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    stack.catalog.down = True
    body = await graphql(client, "{ products { sku } }")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "DOWNSTREAM_UNAVAILABLE"
    stack.catalog.down = False
    listed = await graphql(client, "{ products { sku } }")
    assert [p["sku"] for p in listed["data"]["products"]] == ["KB-MECH", "MUG-RETIRED"]


def place_body(input_value: Any) -> bytes:
    return json.dumps({"query": PLACE_ORDER, "variables": {"input": input_value}}).encode()


def good(**changes: Any) -> dict[str, Any]:
    return {**place_input({"KB-MECH": 1}, "c1"), **changes}


def query_body(query: str) -> bytes:
    return json.dumps({"query": query}).encode()


DEEP = '{ orders(customerId: "c") { items { product { sku { a { b { c { d } } } } } } } }'
ALIASES = "{ " + " ".join(f"a{i}: products {{ sku }}" for i in range(MAX_ALIASES + 1)) + " }"
TOKENS = '{ orders(customerId: "c") { ' + "id " * MAX_TOKENS + "} }"

# (body, HTTP status, GraphQL error code) or (body, 200, the InvalidInput member's field)
BAD_INPUT: list[tuple[str, bytes, int, str]] = [
    ("malformed JSON", b'{"query": "mutation', 400, "BAD_REQUEST"),
    ("not an object", b'["placeOrder"]', 400, "BAD_REQUEST"),
    ("no query", b'{"variables": {}}', 400, "BAD_REQUEST"),
    ("syntax error", query_body("mutation { placeOrder(input: {"), 200, "GRAPHQL_PARSE_FAILED"),
    (
        "missing items",
        place_body({k: v for k, v in good().items() if k != "items"}),
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    (
        "quantity as text",
        place_body(good(items=[{"sku": "KB-MECH", "quantity": "2"}])),
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    (
        "fractional quantity",
        place_body(good(items=[{"sku": "KB-MECH", "quantity": 1.5}])),
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    ("unknown field", place_body(good(price=1)), 200, "GRAPHQL_VALIDATION_FAILED"),
    (
        "zero quantity",
        place_body(good(items=[{"sku": "KB-MECH", "quantity": 0}])),
        200,
        "field:items[0].quantity",
    ),
    (
        "negative quantity",
        place_body(good(items=[{"sku": "KB-MECH", "quantity": -2}])),
        200,
        "field:items[0].quantity",
    ),
    ("no items", place_body(good(items=[])), 200, "field:items"),
    ("unknown token", place_body(good(paymentToken="tok_amex")), 200, "field:paymentToken"),
    ("long customer id", place_body(good(customerId="c" * 65)), 200, "field:customerId"),
    (
        "long idempotency key",
        place_body(good(idempotencyKey="k" * 300)),
        200,
        "field:idempotencyKey",
    ),
    ("over-deep query", query_body(DEEP), 200, "QUERY_TOO_DEEP"),
    ("too many aliases", query_body(ALIASES), 200, "QUERY_TOO_LARGE"),
    ("too many tokens", query_body(TOKENS), 200, "QUERY_TOO_LARGE"),
]


@pytest.mark.parametrize(
    ("body", "status", "expected"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
async def test_bad_input_is_refused_clearly_and_nothing_moves(
    client: httpx.AsyncClient, stack: Stack, body: bytes, status: int, expected: str
) -> None:
    answer = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    if expected.startswith("field:"):
        member = answer.json()["data"]["placeOrder"]
        assert (member["__typename"], member["code"]) == ("InvalidInput", "INVALID_REQUEST")
        assert member["field"] == expected.removeprefix("field:") and member["message"]
    else:
        errors = answer.json()["errors"]
        assert expected in [e["extensions"]["code"] for e in errors], errors
        assert all(e["message"] for e in errors)
    assert stack.store.status_counts() == {}
    assert stack.inventory.calls == [] and stack.payment.calls == []
    assert (await place(client, {"KB-MECH": 1}))["status"] == "CONFIRMED"  # still serving


async def test_an_oversized_body_is_refused_before_graphql(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    body = place_body(good(customerId="c" * (MAX_BODY + 1)))
    answer = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert (answer.status_code, answer.json()["code"]) == (413, "BODY_TOO_LARGE")
    assert stack.store.status_counts() == {}


async def test_the_depth_limit_leaves_the_deepest_real_query_alone(
    client: httpx.AsyncClient,
) -> None:
    assert MAX_DEPTH >= 5
    deepest = (
        'mutation { placeOrder(input: {customerId: "c1", items: [{sku: "NOPE", quantity: 1}], '
        'paymentToken: "tok_visa"}) '
        "{ ... on UnknownSku { order { items { product { name } } } } } }"
    )
    body = await graphql(client, deepest)
    assert body["data"]["placeOrder"]["order"]["items"] == [{"product": None}]


async def test_subscription_streams_each_status_in_order_then_completes(stack: Stack) -> None:
    stack.inventory.gate.clear()
    async with serving(stack.app) as url, httpx.AsyncClient(base_url=url) as client:
        placing = asyncio.create_task(place(client, {"KB-MECH": 1}, customer="watcher"))
        await stack.inventory.reached.wait()  # the order is PENDING, its saga held at reserve
        listed = await graphql(client, '{ orders(customerId: "watcher") { id status } }')
        [pending] = listed["data"]["orders"]
        async with transport_ws(ws_url(url)) as ws:
            await ws.subscribe("1", ORDER_UPDATES, {"orderId": pending["id"]})
            first = await ws.receive()
            assert first["payload"]["data"]["orderUpdates"]["status"] == "PENDING"
            stack.inventory.gate.set()
            rest = await ws.until_complete("1")
        placed = await placing
    statuses = [p["data"]["orderUpdates"]["status"] for p in rest]
    assert statuses == ["RESERVED", "PAID", "CONFIRMED"]
    assert rest[-1]["data"]["orderUpdates"] == {
        k: v for k, v in placed.items() if k != "__typename"
    }
    assert placed["totalCents"] == 8999


async def test_subscribing_to_an_unknown_order_is_an_error_message(stack: Stack) -> None:
    async with serving(stack.app) as url, httpx.AsyncClient(base_url=url) as client:
        done = await place(client, {"KB-MECH": 1})
        async with transport_ws(ws_url(url)) as ws:
            await ws.subscribe("a", ORDER_UPDATES, {"orderId": "nope"})
            error = await ws.receive()
            assert (error["type"], error["id"]) == ("error", "a")
            assert error["payload"][0]["extensions"]["code"] == "NOT_FOUND"
            await ws.subscribe("b", ORDER_UPDATES, {"orderId": done["id"]})  # the socket lives on
            [final] = await ws.until_complete("b")
            assert final["data"]["orderUpdates"]["status"] == "CONFIRMED"


async def test_operations_beyond_the_socket_bound_are_refused_with_a_code(stack: Stack) -> None:
    """graphql-transport-ws lets one socket start operations without end; each is a task here.
    Beyond MAX_OPERATIONS in flight one more is an `error` message with a code, and once one
    ends (the client completes it) the next is served: the socket lives on."""
    stack.inventory.gate.clear()
    async with serving(stack.app) as url, httpx.AsyncClient(base_url=url) as client:
        placing = asyncio.create_task(place(client, {"KB-MECH": 1}, customer="watcher"))
        try:
            await stack.inventory.reached.wait()  # PENDING: its subscriptions stay open
            [pending] = await stack.handlers.list_orders("watcher")
            async with transport_ws(ws_url(url)) as ws:
                for n in range(MAX_OPERATIONS):
                    await ws.subscribe(str(n), ORDER_UPDATES, {"orderId": pending.id})
                await ws.subscribe("one-more", ORDER_UPDATES, {"orderId": pending.id})
                received = [await ws.receive() for _ in range(MAX_OPERATIONS + 1)]
                [refused] = [m for m in received if m["id"] == "one-more"]
                assert refused["type"] == "error"
                assert refused["payload"][0]["extensions"] == {
                    "code": "TOO_MANY_OPERATIONS",
                    "limit": MAX_OPERATIONS,
                }
                await ws.send({"id": "0", "type": "complete"})
                await ws.subscribe("then", ORDER_UPDATES, {"orderId": pending.id})
                served = await ws.receive()
                assert (served["id"], served["type"]) == ("then", "next")
        finally:
            stack.inventory.gate.set()
        assert (await placing)["status"] == "CONFIRMED"


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        json.dumps({"id": "1", "type": "subscribe", "payload": "query"}),
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": 5}}),
        json.dumps({"id": 1, "type": "subscribe", "payload": {"query": "{ products { sku } }"}}),
        json.dumps({"type": "complete", "id": ["1"]}),
        # Wrongly typed but falsy: as malformed as any other wrong type.
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": "{ x }", "variables": []}}
        ),
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": "{ x }", "operationName": 0}}
        ),
        json.dumps({"type": "no-such-type"}),
        # Not JSON that Python reads: a number of 5,000 digits, and nesting too deep.
        '{"id": "1", "type": "ping", "payload": {"n": ' + "9" * 5000 + "}}",
        "[" * 4_000 + "]" * 4_000,  # deeper than the parser goes, within the size limit
    ],
)
async def test_a_malformed_message_closes_the_socket_with_4400(stack: Stack, frame: str) -> None:
    async with serving(stack.app) as url:
        async with transport_ws(ws_url(url)) as ws:
            await ws.socket.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
        async with transport_ws(ws_url(url)) as ws:  # the next connection is served
            await ws.subscribe("q", "{ products { sku } }", {})
            [answer] = await ws.until_complete("q")
            assert len(answer["data"]["products"]) == 2


@pytest.mark.parametrize("size", [MAX_MESSAGE_BYTES + 1, 2 * 65536 + 1])
async def test_an_oversized_message_closes_the_socket(stack: Stack, size: int) -> None:
    """Over the adapter's limit, and over the server's own cap."""
    padding = " " * (size - len(PLACE_ORDER))
    variables = {"input": place_input({"KB-MECH": 1}, "c1")}
    async with serving(stack.app) as url:
        async with transport_ws(ws_url(url)) as ws:
            await ws.subscribe("big", PLACE_ORDER + padding, variables)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        async with transport_ws(ws_url(url)) as ws:  # the next connection is served
            await ws.subscribe("ok", PLACE_ORDER, variables)
            [placed] = await ws.until_complete("ok")
    assert placed["data"]["placeOrder"]["status"] == "CONFIRMED"
    assert stack.store.status_counts() == {"CONFIRMED": 1}


async def test_correlation_ids_reach_downstream_from_http_and_websocket(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    variables = {"input": place_input({"KB-MECH": 1}, "c1")}
    await client.post(
        "/graphql",
        json={"query": PLACE_ORDER, "variables": variables},
        headers={"X-Correlation-ID": "corr-http"},
    )
    async with serving(stack.app) as url:
        async with transport_ws(ws_url(url), init={"correlationId": "corr-init"}) as ws:
            await ws.subscribe("m", PLACE_ORDER, variables)
            [placed] = await ws.until_complete("m")
            assert placed["data"]["placeOrder"]["status"] == "CONFIRMED"
        async with transport_ws(ws_url(url), headers={"X-Correlation-ID": "corr-header"}) as ws:
            await ws.subscribe("m", PLACE_ORDER, variables)
            await ws.until_complete("m")
    assert stack.inventory.correlation_ids == ["corr-http", "corr-init", "corr-header"]
