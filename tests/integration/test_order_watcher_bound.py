"""The order process's bound on watchers, through every way a client follows an order: a long
poll, an event stream, gRPC WatchOrder, a GraphQL subscription and a WebSocket place_order's
pushes. In-process over real sockets (HTTP/1.1, HTTP/2, WebSocket frames), the real SQLite store
and saga, fakes of the downstream ports; the process allows one watcher.

A client holds the one room here either as a real watcher (a long poll on an order held at
inventory) or, to test each edge's answer alone, as the room a watcher would take
(`OrderHandlers.watch_room`); each refused request is then made again once there is room."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from websockets.asyncio.client import connect

from harness.clients.documents import ORDER_UPDATES
from harness.clients.graphql import transport_ws, ws_url
from services._generated.orderflow.v1 import order_pb2, order_pb2_grpc
from services.kernel.jsonrpc.errors import OVERLOADED
from services.kernel.telemetry import Telemetry
from services.order.api.grpc import create_server
from services.order.downstream.interfaces import Downstream
from services.order.handlers import OrderHandlers
from services.order.main import create_app
from services.order.saga import Saga
from services.order.store import OrderStore
from services.order.updates import OrderUpdates
from tests.e2e.graphql_client import serving
from tests.integration.test_graphql_order import GatedInventory
from tests.integration.test_order_rest import PROBLEM, order_body
from tests.unit.fakes import FakeNotifier, FakePayment


class Process:
    """One order process's handlers and app, allowed one watcher."""

    def __init__(self, path: Path) -> None:
        self.inventory = GatedInventory({"KB-MECH": 100}, {"KB-MECH": 8999})
        self.inventory.gate.set()
        self.store = OrderStore.open(path)
        self.updates = OrderUpdates(max_watchers=1)
        downstream = Downstream(self.inventory, FakePayment(), FakeNotifier())
        saga = Saga(self.store, downstream, Telemetry("order"), updates=self.updates)
        self.handlers = OrderHandlers(self.store, saga)

        async def ready() -> Mapping[str, bool]:
            return await self.handlers.is_ready()

        self.app = create_app(self.handlers, Telemetry("order"), ready, max_body_bytes=8192)


@pytest.fixture
async def process(tmp_path: Path) -> AsyncIterator[Process]:
    made = Process(tmp_path / "order.db")
    yield made
    assert made.updates.rooms_taken == 0  # every way a watch ended gave its room back
    made.store.close()


@pytest.fixture
async def url(process: Process) -> AsyncIterator[str]:
    async with serving(process.app) as base:
        yield base


async def placed(url: str) -> str:
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/orders", json=order_body())
        assert answer.status_code == 201, answer.text
        order_id: str = answer.json()["id"]
        return order_id


def assert_refused_over_rest(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["Retry-After"] == "1"
    problem = answer.json()
    assert (problem["code"], problem["limit"], problem["retry_after_s"]) == (
        "TOO_MANY_WATCHERS",
        1,
        1,
    )


async def test_a_long_poll_beyond_the_bound_is_refused_and_served_once_one_ends(
    process: Process, url: str
) -> None:
    order_id = await placed(url)  # CONFIRMED: a long poll on it answers at once
    process.inventory.gate.clear()
    process.inventory.reached.clear()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        holding = asyncio.create_task(client.post("/orders", json=order_body()))
        try:
            await process.inventory.reached.wait()  # PENDING, held at inventory
            [pending] = [o for o in await process.handlers.list_orders("c1") if not o.is_terminal]
            watching = asyncio.create_task(client.get(f"/orders/{pending.id}?wait=10s"))
            while process.updates.rooms_taken == 0:  # noqa: ASYNC110 (the server's own count)
                await asyncio.sleep(0.01)

            assert_refused_over_rest(await client.get(f"/orders/{order_id}?wait=5s"))
        finally:
            process.inventory.gate.set()  # the held order moves: the first long poll answers
        assert (await watching).json()["status"] != "PENDING"
        assert (await holding).status_code == 201
        again = await client.get(f"/orders/{order_id}?wait=5s")
        assert (again.status_code, again.json()["status"]) == (200, "CONFIRMED")


async def test_an_event_stream_is_refused_before_it_opens(process: Process, url: str) -> None:
    order_id = await placed(url)
    room = process.handlers.watch_room()
    async with httpx.AsyncClient(base_url=url) as client:
        assert_refused_over_rest(await client.get(f"/orders/{order_id}/events"))
        room.release()
        async with client.stream("GET", f"/orders/{order_id}/events") as stream:
            assert stream.status_code == 200
            text = "".join([chunk async for chunk in stream.aiter_text()])
    assert "CONFIRMED" in text


async def test_grpc_watch_is_resource_exhausted_with_the_code_in_the_trailers(
    process: Process, url: str
) -> None:
    order_id = await placed(url)
    server, port = create_server(process.handlers, "127.0.0.1", 0, max_message_bytes=8192)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = order_pb2_grpc.OrderServiceStub(channel)
            request = order_pb2.WatchOrderRequest(id=order_id)
            room = process.handlers.watch_room()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.WatchOrder(request).read()
            assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            trailers = dict(refused.value.trailing_metadata() or ())
            assert trailers["orderflow-code"] == "TOO_MANY_WATCHERS"
            assert trailers["orderflow-retry-after-s"] == "1"
            room.release()
            seen = [update async for update in stub.WatchOrder(request)]
            assert [order_pb2.Order.Status.Name(u.status) for u in seen] == ["CONFIRMED"]
    finally:
        await server.stop(None)


async def test_a_subscription_is_an_error_message_and_the_socket_serves_on(
    process: Process, url: str
) -> None:
    order_id = await placed(url)
    room = process.handlers.watch_room()
    async with transport_ws(ws_url(url)) as ws:
        await ws.subscribe("a", ORDER_UPDATES, {"orderId": order_id})
        error = await ws.receive()
        assert (error["type"], error["id"]) == ("error", "a")
        assert error["payload"][0]["extensions"]["code"] == "TOO_MANY_WATCHERS"
        room.release()
        await ws.subscribe("b", ORDER_UPDATES, {"orderId": order_id})
        [final] = await ws.until_complete("b")
        assert final["data"]["orderUpdates"]["status"] == "CONFIRMED"


async def call(socket: Any, request_id: int, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages up to the answer to a place_order (its pushes first)."""
    request = {"jsonrpc": "2.0", "id": request_id, "method": "place_order", "params": params}
    await socket.send(json.dumps(request))
    received: list[dict[str, Any]] = []
    while not received or received[-1].get("id") != request_id:
        received.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
    return received


async def test_a_websocket_place_order_is_refused_before_the_order_is_recorded(
    process: Process, url: str
) -> None:
    room = process.handlers.watch_room()
    async with connect(ws_url(url).replace("/graphql", "/ws")) as socket:
        [refused] = await call(socket, 1, order_body())
        assert refused["error"]["code"] == OVERLOADED
        assert refused["error"]["data"]["code"] == "TOO_MANY_WATCHERS"
        assert process.store.status_counts() == {}  # nothing recorded, nothing reserved
        assert process.inventory.calls == []
        room.release()
        [invalid] = await call(socket, 2, order_body(quantity=0))  # refused in the domain
        assert invalid["error"]["data"]["code"] == "INVALID_REQUEST"
        assert process.updates.rooms_taken == 0  # the room taken for its follower: given back
        *pushed, answer = await call(socket, 3, order_body())
    assert answer["result"]["status"] == "CONFIRMED"
    assert [p["params"]["status"] for p in pushed][-1] == "CONFIRMED"
