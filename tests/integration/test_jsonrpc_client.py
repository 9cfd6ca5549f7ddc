"""The order service's JSON-RPC WebSocket client against a real, scripted WebSocket server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from services.kernel import correlation
from services.kernel.config import Settings
from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable
from services.kernel.jsonrpc.client import BACKOFF_FIRST_S, RpcClient
from services.kernel.jsonrpc.errors import RpcError
from services.kernel.telemetry import Telemetry
from services.order.downstream import jsonrpc
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeStatus,
    RefusalReason,
    ReservationRefused,
)

Reply = Callable[[dict[str, Any], ServerConnection], Awaitable[object]]
SILENT = object()  # a reply that never comes


@dataclass
class Peer:
    """A JSON-RPC server whose answers a test scripts, one task per request as a real one."""

    reply: Reply
    connections: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        tasks: set[asyncio.Task[None]] = set()
        async for raw in connection:
            task = asyncio.create_task(self._answer(json.loads(raw), connection))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for task in tasks:
            task.cancel()

    async def _answer(self, message: dict[str, Any], connection: ServerConnection) -> None:
        async with self.arrived:
            self.received.append(message)
            self.arrived.notify_all()
        answer = await self.reply(message, connection)
        if answer is SILENT:
            await asyncio.Event().wait()
        self.answered.append(message["id"])
        text = answer if isinstance(answer, str) else json.dumps(answer)
        await connection.send(text)


def result(message: dict[str, Any], value: object) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message["id"], "result": value}


def error(message: dict[str, Any], code: int, data_code: str) -> dict[str, Any]:
    failure = {"code": code, "message": data_code.lower(), "data": {"code": data_code}}
    return {"jsonrpc": "2.0", "id": message["id"], "error": failure}


async def scripted(message: dict[str, Any], connection: ServerConnection) -> object:
    """What most tests need: echo, hang, drop, fail, or answer garbage, by method name."""
    method, params = message["method"], message["params"]
    if method == "echo":
        await asyncio.sleep(params.get("delay", 0))
        return result(message, params)
    if method == "hang":
        return SILENT
    if method == "drop":
        await connection.close()
        return SILENT
    if method == "boom":
        return error(message, -32603, "INTERNAL_ERROR")
    if method == "missing":
        return error(message, -32001, "NOT_FOUND")
    if method == "deep":  # valid JSON, nested past what the parser's recursion allows
        return "[" * DEEP + "]" * DEEP
    return "this is not JSON"


DEEP = 100_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Setup:
    peer: Peer
    port: int
    telemetry: Telemetry = field(default_factory=lambda: Telemetry("order"))

    def client(self, timeout_s: float = 5.0, service: str = "inventory") -> RpcClient:
        url = f"ws://127.0.0.1:{self.port}/ws"
        return RpcClient(service, url, timeout_s, self.telemetry)

    def counted(self, operation: str, outcome: str, service: str = "inventory") -> float:
        metric = self.telemetry.downstream_calls.labels(service, operation, outcome)
        return float(metric._value.get())


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    peer = Peer(scripted)
    async with serve(peer.handle, "127.0.0.1", 0) as server:
        yield Setup(peer, int(server.sockets[0].getsockname()[1]))


async def test_concurrent_calls_share_one_connection_and_each_gets_its_answer(
    setup: Setup,
) -> None:
    client = setup.client()
    calls = [client.call("echo", {"n": n, "delay": (50 - n) * 0.002}) for n in range(50)]
    results = await asyncio.gather(*calls)
    await client.aclose()
    assert [r["n"] for r in results] == list(range(50))
    ids = [m["id"] for m in setup.peer.received]
    assert setup.peer.answered != sorted(setup.peer.answered) and len(set(ids)) == 50
    assert setup.peer.connections == 1
    assert setup.counted("ws.echo", "ok") == 50


async def test_a_call_the_server_never_answers_times_out_and_the_connection_serves_on(
    setup: Setup,
) -> None:
    client = setup.client(timeout_s=0.3)
    with pytest.raises(DownstreamUnavailable, match=r"no answer within 0.3s"):
        await client.call("hang", {})
    assert await client.call("echo", {"x": 1}) == {"x": 1}
    await client.aclose()
    assert setup.peer.connections == 1
    assert setup.counted("ws.hang", "timeout") == 1


async def test_a_dropped_connection_fails_the_calls_in_flight_and_the_next_call_reconnects(
    setup: Setup,
) -> None:
    client = setup.client()
    waiting = [asyncio.create_task(client.call("hang", {"n": n})) for n in range(3)]
    async with setup.peer.arrived:
        await setup.peer.arrived.wait_for(lambda: len(setup.peer.received) == 3)
    with pytest.raises(DownstreamUnavailable, match="connection lost"):
        await client.call("drop", {})
    for call in waiting:
        with pytest.raises(DownstreamUnavailable, match="connection lost"):
            await call
    assert await client.call("echo", {"back": True}) == {"back": True}
    await client.aclose()
    assert setup.peer.connections == 2
    assert setup.counted("ws.hang", "unreachable") == 3


async def test_a_refused_connection_is_unavailable_backs_off_then_reconnects() -> None:
    port = free_port()
    setup = Setup(Peer(scripted), port)
    client = setup.client()
    with pytest.raises(DownstreamUnavailable, match="cannot connect"):
        await client.call("echo", {})
    started = time.monotonic()
    with pytest.raises(DownstreamUnavailable, match="cannot connect"):
        await client.call("echo", {})  # the next attempt waits for the back-off
    assert time.monotonic() - started >= BACKOFF_FIRST_S
    assert setup.counted("ws.echo", "unreachable") == 2
    async with serve(setup.peer.handle, "127.0.0.1", port):
        calls = [client.call("echo", {"n": n}) for n in range(5)]  # wait, then share one attempt
        assert [r["n"] for r in await asyncio.gather(*calls)] == list(range(5))
        await client.aclose()
    assert setup.peer.connections == 1


async def test_a_call_that_cannot_wait_for_the_back_off_fails_at_once() -> None:
    client = Setup(Peer(scripted), free_port()).client(timeout_s=BACKOFF_FIRST_S / 2)
    with pytest.raises(DownstreamUnavailable, match="cannot connect"):
        await client.call("echo", {})
    started = time.monotonic()
    with pytest.raises(DownstreamUnavailable, match=r"next attempt in 0\.\d+s \(1 failed\)"):
        await client.call("echo", {})
    assert time.monotonic() - started < BACKOFF_FIRST_S
    await client.aclose()


async def test_server_failures_are_unavailable_and_refusals_are_errors(setup: Setup) -> None:
    client = setup.client()
    with pytest.raises(DownstreamUnavailable, match="-32603 INTERNAL_ERROR"):
        await client.call("boom", {})
    with pytest.raises(RpcError) as refused:
        await client.call("missing", {})
    assert (refused.value.code, refused.value.reason) == (-32001, "NOT_FOUND")
    await client.aclose()
    assert setup.counted("ws.boom", "server_error") == 1
    assert setup.counted("ws.missing", "refused") == 1


@pytest.mark.parametrize("method", ["garbage", "deep"])
async def test_an_unparseable_answer_fails_the_call_and_the_connection_is_replaced(
    setup: Setup, method: str
) -> None:
    client = setup.client()
    with pytest.raises(DownstreamUnavailable, match="unparseable answer"):
        await client.call(method, {})
    assert await client.call("echo", {"ok": 1}) == {"ok": 1}
    await client.aclose()
    assert setup.peer.connections == 2


async def test_a_result_the_caller_cannot_read_is_unavailable_and_counted_unreadable(
    setup: Setup,
) -> None:
    client = setup.client()
    assert await client.call("echo", {"a": 1}, lambda result: result["a"]) == 1
    with pytest.raises(DownstreamUnavailable, match="unparseable result: KeyError"):
        await client.call("echo", {"a": 1}, lambda result: result["b"])
    await client.aclose()
    assert setup.counted("ws.echo", "ok") == 1
    assert setup.counted("ws.echo", "unreadable") == 1


async def test_the_correlation_id_travels_in_meta(setup: Setup) -> None:
    client = setup.client()
    correlation.set_current("corr-42")
    await client.call("echo", {"x": 1})
    await client.aclose()
    assert setup.peer.received[-1]["params"] == {"x": 1, "_meta": {"correlation_id": "corr-42"}}


@contextlib.asynccontextmanager
async def ports_answering(
    reply: Reply,
) -> AsyncIterator[tuple[jsonrpc.WsInventory, jsonrpc.WsPayment]]:
    peer = Peer(reply)
    async with serve(peer.handle, "127.0.0.1", 0) as server, AsyncExitStack() as resources:
        port = str(server.sockets[0].getsockname()[1])
        env = {"ORDERFLOW_INVENTORY_HTTP_PORT": port, "ORDERFLOW_PAYMENT_HTTP_PORT": port}
        yield await jsonrpc.connect(Settings.from_env(env), Telemetry("order"), resources)


async def test_connect_builds_the_clients_without_anyone_listening() -> None:
    env = {
        "ORDERFLOW_INVENTORY_HTTP_PORT": str(free_port()),
        "ORDERFLOW_PAYMENT_HTTP_PORT": str(free_port()),
    }
    async with AsyncExitStack() as resources:
        inventory, payment = await jsonrpc.connect(
            Settings.from_env(env), Telemetry("order"), resources
        )
        with pytest.raises(DownstreamUnavailable) as caught:
            await inventory.reserve("o1", (Line("KB-MECH", 1),))
        assert (caught.value.service, caught.value.operation) == ("inventory", "reserve")
        with pytest.raises(DownstreamUnavailable):
            await payment.refund("o1")


async def mapped(message: dict[str, Any], connection: ServerConnection) -> object:
    params = message["params"]
    if message["method"] == "reserve":
        sku = params["items"][0]["sku"]
        if sku in RefusalReason.__members__:
            return error(message, -32602 if sku == "UNKNOWN_SKU" else -32003, sku)
        if sku == "ODD":
            return result(message, {"no": "items"})
        if sku == "STRINGS":  # every member there, of the wrong type
            return result(
                message, {"items": [{"sku": sku, "quantity": "1", "unit_price_cents": "9"}]}
            )
        if sku == "FLOAT":
            return result(
                message, {"items": [{"sku": sku, "quantity": 1, "unit_price_cents": 9.5}]}
            )
        return result(message, {"items": [{**params["items"][0], "unit_price_cents": 999}]})
    if message["method"] == "charge":
        if params["order_id"] == "voided":
            return error(message, -32002, "CHARGE_VOIDED")
        status = "WEIRD" if params["order_id"] == "odd" else "DECLINED"
        return result(message, {"status": status})
    return error(message, -32001, "NOT_FOUND")


async def test_answers_map_onto_the_ports_as_over_rest() -> None:
    async with ports_answering(mapped) as (inventory, payment):
        priced = await inventory.reserve("o1", (Line("KB-MECH", 2),))
        assert [(p.sku, p.quantity, p.unit_price_cents) for p in priced] == [("KB-MECH", 2, 999)]
        for reason in RefusalReason:
            with pytest.raises(ReservationRefused) as refused:
                await inventory.reserve("o1", (Line(reason.value, 1),))
            assert refused.value.reason is reason
        for odd in ("ODD", "STRINGS", "FLOAT"):
            with pytest.raises(DownstreamUnavailable, match="unparseable result"):
                await inventory.reserve("o1", (Line(odd, 1),))
        with pytest.raises(DownstreamUnavailable, match="NOT_FOUND"):
            await inventory.release("o1")
        assert (await payment.charge("o1", "c1", 100, "tok_x")).status is ChargeStatus.DECLINED
        with pytest.raises(ChargeRefused):
            await payment.charge("voided", "c1", 100, "tok_x")
        with pytest.raises(DownstreamUnavailable, match="unparseable result"):
            await payment.charge("odd", "c1", 100, "tok_x")


async def test_a_call_cut_short_by_a_restarting_server_is_sent_again_to_the_next_one() -> None:
    """uvicorn closes its WebSockets with 1012 when it stops, calls in flight unanswered: the
    client sends such a call again (it is idempotent) once the server is back, within its
    deadline, as a REST or gRPC server's graceful stop would have let it finish."""
    port = free_port()
    seen: list[int] = []

    async def restarting(message: dict[str, Any], connection: ServerConnection) -> object:
        seen.append(message["id"])
        if len(seen) == 1:
            await connection.close(1012, "service restart")
            return SILENT
        return result(message, "done")

    peer = Peer(restarting)
    setup = Setup(peer, port)
    client = setup.client(timeout_s=5.0)
    first = await serve(peer.handle, "127.0.0.1", port)
    call = asyncio.create_task(client.call("charge", {"order_id": "o-1"}))
    async with peer.arrived:
        await peer.arrived.wait_for(lambda: len(peer.received) == 1)
    first.close()
    await first.wait_closed()
    await asyncio.sleep(0.3)  # down for a moment: the client retries the connection
    async with serve(peer.handle, "127.0.0.1", port):
        assert await call == "done"
        await client.aclose()
    assert [m["params"]["order_id"] for m in peer.received] == ["o-1", "o-1"]


async def test_a_connection_lost_for_another_reason_is_not_sent_again(setup: Setup) -> None:
    client = setup.client()
    with pytest.raises(DownstreamUnavailable, match="connection lost"):
        await client.call("drop", {})
    await client.aclose()
    assert [m["method"] for m in setup.peer.received] == ["drop"]
