"""JSON-RPC 2.0 batches (§6) over a real socket: the spec's own examples (§7), then a batch on
each service's endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection, connect

from services.kernel.jsonrpc.dispatcher import Method, Peer
from services.kernel.jsonrpc.params import Params
from services.kernel.jsonrpc.server import MAX_BATCH, serve
from tests.integration import test_websocket_adapters as adapters
from tests.integration.test_websocket_adapters import Services, served

# The three real apps on sockets, the order service calling the others over WebSocket.
services = adapters.services


def spec_methods(hellos: list[object]) -> dict[str, Method]:
    """The methods of the spec's examples, with params by name (this project's convention)."""

    async def sum_(params: Params, peer: Peer) -> int:
        params.allow("a", "b", "c")
        return params.integer("a") + params.integer("b") + params.integer("c")

    async def subtract(params: Params, peer: Peer) -> int:
        params.allow("minuend", "subtrahend")
        return params.integer("minuend") - params.integer("subtrahend")

    async def notify_hello(params: Params, peer: Peer) -> None:
        hellos.append(params.allow("n").integer("n"))

    async def get_data(params: Params, peer: Peer) -> list[object]:
        return ["hello", 5]

    return {"sum": sum_, "subtract": subtract, "notify_hello": notify_hello, "get_data": get_data}


@pytest.fixture
def hellos() -> list[object]:
    return []


@pytest.fixture
async def spec_socket(hellos: list[object]) -> AsyncIterator[ClientConnection]:
    async def endpoint(websocket: WebSocket) -> None:
        await serve(websocket, spec_methods(hellos), max_message_bytes=4096)

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    async with served(app) as port, connect(f"ws://127.0.0.1:{port}/ws") as socket:
        yield socket


async def exchange(socket: ClientConnection, message: str) -> Any:
    await socket.send(message)
    return json.loads(await asyncio.wait_for(socket.recv(), 10))


def by_id(answers: list[dict[str, Any]]) -> dict[object, object]:
    """What each response says, by id (the spec lets a batch's responses come in any order)."""
    return {a["id"]: a["result"] if "result" in a else a["error"]["code"] for a in answers}


async def test_the_specs_batch_by_name(spec_socket: ClientConnection, hellos: list[object]) -> None:
    answers = await exchange(
        spec_socket,
        """[
        {"jsonrpc": "2.0", "method": "sum", "params": {"a": 1, "b": 2, "c": 4}, "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": {"n": 7}},
        {"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23},
         "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]""",
    )
    assert isinstance(answers, list) and len(answers) == 5  # no response to the notification
    assert by_id(answers) == {"1": 7, "2": 19, None: -32600, "5": -32601, "9": ["hello", 5]}
    assert all(a["jsonrpc"] == "2.0" for a in answers)
    assert hellos == [7]


async def test_the_specs_batch_verbatim(spec_socket: ClientConnection) -> None:
    """Positional params are refused as documented (-32602); everything else as the spec says."""
    answers = await exchange(
        spec_socket,
        """[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]""",
    )
    positional: dict[object, object] = {"1": -32602, "2": -32602}
    assert by_id(answers) == {**positional, None: -32600, "5": -32601, "9": ["hello", 5]}


@pytest.mark.parametrize(
    ("message", "answer"),
    [
        ("[]", {"code": -32600, "id": None}),  # an empty array: one error, not an array
        ("[1]", [{"code": -32600, "id": None}]),
        ("[1,2,3]", [{"code": -32600, "id": None}] * 3),
        (
            '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
            '{"jsonrpc": "2.0", "method"]',
            {"code": -32700, "id": None},
        ),
    ],
)
async def test_the_specs_invalid_batches(
    spec_socket: ClientConnection, message: str, answer: object
) -> None:
    def shape(response: dict[str, Any]) -> dict[str, Any]:
        return {"code": response["error"]["code"], "id": response["id"]}

    received = await exchange(spec_socket, message)
    got = [shape(r) for r in received] if isinstance(received, list) else shape(received)
    assert got == answer


async def test_a_batch_of_notifications_gets_no_response(
    spec_socket: ClientConnection, hellos: list[object]
) -> None:
    await spec_socket.send(
        '[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},'
        '{"jsonrpc": "2.0", "method": "notify_hello", "params": {"n": 7}}]'
    )
    # What arrives next is the answer to the next call: nothing was sent for the batch.
    answer = await exchange(spec_socket, '{"jsonrpc": "2.0", "id": 1, "method": "get_data"}')
    assert answer == {"jsonrpc": "2.0", "id": 1, "result": ["hello", 5]}
    assert hellos == [7]


async def test_a_batch_over_the_limit_is_one_error(spec_socket: ClientConnection) -> None:
    call = {"jsonrpc": "2.0", "method": "get_data", "id": 1}
    fits = await exchange(spec_socket, json.dumps([call] * MAX_BATCH))
    assert len(fits) == MAX_BATCH
    refused = await exchange(spec_socket, json.dumps([call] * (MAX_BATCH + 1)))
    assert refused["id"] is None
    assert refused["error"]["data"] == {"code": "BATCH_TOO_LARGE", "limit_requests": MAX_BATCH}


def call(request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def place(request_id: int, token: str, key: str) -> dict[str, Any]:
    return call(
        request_id,
        "place_order",
        adapters.place_params({"KB-MECH": 1}, token, idempotency_key=key),
    )


async def test_a_batch_on_the_order_service(services: Services) -> None:
    batch = [
        place(1, "tok_visa", "batch-1"),
        place(2, "tok_chargeDeclined", "batch-2"),
        {"jsonrpc": "2.0", "method": "get_order", "params": {"id": "nope"}},
        call(3, "get_order", {"id": "nope"}),
    ]
    async with services.rpc("order") as rpc:
        await rpc.socket.send(json.dumps(batch))
        pushed: list[dict[str, Any]] = []
        while not isinstance(received := json.loads(await rpc.socket.recv()), list):
            pushed.append(received)  # each order's `order.updated`, before the array
    assert [(a["id"], a.get("result", {}).get("status")) for a in received] == [
        (1, "CONFIRMED"),
        (2, "CANCELLED"),
        (3, None),
    ]
    assert received[2]["error"]["data"]["code"] == "NOT_FOUND"
    terminal = {p["params"]["status"] for p in pushed} & {"CONFIRMED", "CANCELLED"}
    assert terminal == {"CONFIRMED", "CANCELLED"}


async def test_a_batch_on_inventory(services: Services) -> None:
    items = [{"sku": "KB-MECH", "quantity": 2}]
    batch = [
        call(1, "reserve", {"order_id": "o1", "items": items}),
        call(2, "get_product", {"sku": "NOPE"}),
        {"jsonrpc": "2.0", "id": 3},  # no method: an error, with its id
    ]
    async with services.rpc("inventory") as rpc:
        answers = await exchange(rpc.socket, json.dumps(batch))
        stock, _ = await rpc.call("stock")
    assert (by_id(answers)[2], by_id(answers)[3]) == (-32001, -32600)
    assert [line["quantity"] for line in answers[0]["result"]["items"]] == [2]
    assert stock["result"]["KB-MECH"]["held"] == 2


async def test_a_batch_on_payment(services: Services) -> None:
    charge = {"customer_id": "c1", "amount_cents": 500, "payment_token": "tok_visa"}
    batch = [
        call(1, "charge", {"order_id": "o1", **charge}),
        call(2, "charge", {"order_id": "o2", **charge, "payment_token": "tok_chargeDeclined"}),
        call(3, "get_payment", {"order_id": "o3"}),
    ]
    async with services.rpc("payment") as rpc:
        answers = await exchange(rpc.socket, json.dumps(batch))
    statuses = {a["id"]: a["result"]["status"] for a in answers if "result" in a}
    assert statuses == {1: "CHARGED", 2: "DECLINED"}
    assert by_id(answers)[3] == -32001
