"""The order process's bound on watchers, through every way a client follows an order: a long
poll, an event stream, gRPC WatchOrder, a GraphQL subscription and a WebSocket place_order's
pushes. In-process over real sockets (HTTP/1.1, HTTP/2, WebSocket frames), the real SQLite store
and saga, fakes of the downstream ports; the process allows one watcher unless a test says.

The order followed is held PENDING at inventory (a final order needs no watch). A client holds
the one room either as a real watcher (a long poll) or, to test each edge's answer alone, as
the room a watcher would take (`OrderHandlers.watch_room`); each refused request is then made
again once there is room."""

from __future__ import annotations

import asyncio
import contextlib
import gc
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
from services.kernel.config import DEFAULT_SSE_KEEPALIVE_S
from services.kernel.jsonrpc.errors import OVERLOADED
from services.kernel.telemetry import Telemetry
from services.order.api import sse
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
    """One order process's handlers and app, with its bounds."""

    def __init__(self, path: Path, max_watchers: int = 1, max_streams: int = 256) -> None:
        self.inventory = GatedInventory({"KB-MECH": 100}, {"KB-MECH": 8999})
        self.inventory.gate.set()
        self.store = OrderStore.open(path)
        self.updates = OrderUpdates(max_watchers)
        downstream = Downstream(self.inventory, FakePayment(), FakeNotifier())
        saga = Saga(self.store, downstream, Telemetry("order"), updates=self.updates)
        self.handlers = OrderHandlers(self.store, saga)
        self.streams = sse.StreamLimit(max_streams, DEFAULT_SSE_KEEPALIVE_S)

        async def ready() -> Mapping[str, bool]:
            return await self.handlers.is_ready()

        self.app = create_app(
            self.handlers, Telemetry("order"), ready, max_body_bytes=8192, streams=self.streams
        )

    @contextlib.asynccontextmanager
    async def held(self, url: str) -> AsyncIterator[str]:
        """An order held PENDING at inventory while the block runs; then it goes on."""
        self.inventory.gate.clear()
        self.inventory.reached.clear()
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            placing = asyncio.create_task(client.post("/orders", json=order_body()))
            try:
                await self.inventory.reached.wait()
                [pending] = [o for o in await self.handlers.list_orders("c1") if not o.is_terminal]
                yield pending.id
            finally:
                self.inventory.gate.set()
                assert (await placing).status_code == 201

    async def settled(self) -> None:
        """Every watch ended and gave its room back (a cancelled one ends on its next step)."""
        for _ in range(200):
            if self.updates.rooms_taken == 0 and not self.updates.watched():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{self.updates.rooms_taken} room(s), {self.updates.watched()}")


@pytest.fixture
async def process(tmp_path: Path) -> AsyncIterator[Process]:
    made = Process(tmp_path / "order.db")
    gc.disable()  # a watch must end when its client leaves, not when a collection finds it
    try:
        yield made
        await made.settled()
    finally:
        gc.enable()
    made.store.close()


@pytest.fixture
async def url(process: Process) -> AsyncIterator[str]:
    async with serving(process.app) as base:
        yield base


async def until_taken(process: Process, rooms: int) -> None:
    while process.updates.rooms_taken < rooms:  # noqa: ASYNC110 (the server's own count)
        await asyncio.sleep(0.01)


def assert_refused_over_rest(answer: httpx.Response, code: str = "TOO_MANY_WATCHERS") -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["code"] == code
    assert int(answer.headers["Retry-After"]) == problem["retry_after_s"] > 0
    assert problem["limit"] == 1


async def test_a_long_poll_beyond_the_bound_is_refused_and_served_once_one_ends(
    process: Process, url: str
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        async with process.held(url) as order_id:
            watching = asyncio.create_task(client.get(f"/orders/{order_id}?wait=10s"))
            await until_taken(process, 1)
            assert_refused_over_rest(await client.get(f"/orders/{order_id}?wait=5s"))
        assert (await watching).json()["status"] != "PENDING"  # it answered the change
        async with process.held(url) as order_id:
            again = asyncio.create_task(client.get(f"/orders/{order_id}?wait=10s"))
            await until_taken(process, 1)  # the room the first one held: free again
        assert (await again).status_code == 200


async def test_a_final_order_is_answered_without_a_watch_however_busy(
    process: Process, url: str
) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        done = (await client.post("/orders", json=order_body())).json()["id"]
        room = process.handlers.watch_room()
        try:
            polled = await client.get(f"/orders/{done}?wait=5s")
            assert (polled.status_code, polled.json()["status"]) == (200, "CONFIRMED")
            assert (await client.get("/orders/nope?wait=5s")).status_code == 404
            async with transport_ws(ws_url(url)) as ws:
                await ws.subscribe("a", ORDER_UPDATES, {"orderId": done})
                [final] = await ws.until_complete("a")
                assert final["data"]["orderUpdates"]["status"] == "CONFIRMED"
        finally:
            room.release()


async def test_an_event_stream_is_refused_before_it_opens(process: Process, url: str) -> None:
    async with process.held(url) as order_id, httpx.AsyncClient(base_url=url) as client:
        room = process.handlers.watch_room()
        assert_refused_over_rest(await client.get(f"/orders/{order_id}/events"))
        room.release()
        async with client.stream("GET", f"/orders/{order_id}/events") as stream:
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    assert '"PENDING"' in line
                    break
        await process.settled()  # the client left mid-stream, the order still PENDING


async def test_a_stream_beyond_the_stream_bound_gives_its_room_back(tmp_path: Path) -> None:
    process = Process(tmp_path / "order.db", max_watchers=2, max_streams=1)
    async with (
        serving(process.app) as url,
        process.held(url) as order_id,
        httpx.AsyncClient(base_url=url) as client,
        client.stream("GET", f"/orders/{order_id}/events") as stream,
    ):
        assert stream.status_code == 200
        assert process.updates.rooms_taken == 1
        refused = await client.get(f"/orders/{order_id}/events")
        assert_refused_over_rest(refused, "TOO_MANY_STREAMS")
        assert process.updates.rooms_taken == 1  # the refused stream's room: given back
    await process.settled()
    process.store.close()


async def test_grpc_watch_is_resource_exhausted_with_the_code_in_the_trailers(
    process: Process, url: str
) -> None:
    server, port = create_server(process.handlers, "127.0.0.1", 0, max_message_bytes=8192)
    await server.start()
    try:
        async with (
            process.held(url) as order_id,
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
        ):
            stub = order_pb2_grpc.OrderServiceStub(channel)
            request = order_pb2.WatchOrderRequest(id=order_id)
            room = process.handlers.watch_room()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.WatchOrder(request).read()
            assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            trailers = dict(refused.value.trailing_metadata() or ())
            assert trailers["orderflow-code"] == "TOO_MANY_WATCHERS"
            assert (trailers["orderflow-retry-after-s"], trailers["orderflow-limit"]) == ("1", "1")
            room.release()
            watch = stub.WatchOrder(request)
            first = await watch.read()
            assert isinstance(first, order_pb2.Order)
            assert order_pb2.Order.Status.Name(first.status) == "PENDING"
            watch.cancel()
    finally:
        await server.stop(None)


async def test_a_subscription_is_an_error_message_and_the_socket_serves_on(
    process: Process, url: str
) -> None:
    async with process.held(url) as order_id, transport_ws(ws_url(url)) as ws:
        room = process.handlers.watch_room()
        await ws.subscribe("a", ORDER_UPDATES, {"orderId": order_id})
        error = await ws.receive()
        assert (error["type"], error["id"]) == ("error", "a")
        assert error["payload"][0]["extensions"] == {
            "code": "TOO_MANY_WATCHERS",
            "limit": 1,
            "retry_after_s": 1,
        }
        room.release()
        await ws.subscribe("b", ORDER_UPDATES, {"orderId": order_id})
        first = await ws.receive()
        assert first["payload"]["data"]["orderUpdates"]["status"] == "PENDING"
        await ws.send({"id": "b", "type": "complete"})


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
        assert refused["error"]["data"] == {
            "code": "TOO_MANY_WATCHERS",
            "limit": 1,
            "retry_after_s": 1,
        }
        assert process.store.status_counts() == {}  # nothing recorded, nothing reserved
        assert process.inventory.calls == []
        room.release()
        [invalid] = await call(socket, 2, order_body(quantity=0))  # refused in the domain
        assert invalid["error"]["data"]["code"] == "INVALID_REQUEST"
        assert process.updates.rooms_taken == 0  # the room taken for its follower: given back
        *pushed, answer = await call(socket, 3, order_body())
    assert answer["result"]["status"] == "CONFIRMED"
    assert [p["params"]["status"] for p in pushed][-1] == "CONFIRMED"
