"""The JSON-RPC connection loop over a real socket: concurrency bound, back-pressure, cleanup."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect

from services.kernel import correlation
from services.kernel.jsonrpc.dispatcher import Method, Peer
from services.kernel.jsonrpc.params import Params
from services.kernel.jsonrpc.server import serve
from tests.integration.test_websocket_adapters import Rpc, served

MAX_IN_FLIGHT = 4


@dataclass
class Probe:
    """Methods that block until released, counting how many run at once."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    running: int = 0
    most: int = 0
    reached_limit: asyncio.Event = field(default_factory=asyncio.Event)
    follower_cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    def methods(self) -> dict[str, Method]:
        async def block(params: Params, peer: Peer) -> str:
            self.running += 1
            self.most = max(self.most, self.running)
            if self.running == MAX_IN_FLIGHT:
                self.reached_limit.set()
            await self.release.wait()
            self.running -= 1
            return "released"

        async def echo(params: Params, peer: Peer) -> object:
            return {"said": params.allow("say").text("say"), "correlation": correlation.current()}

        async def follow(params: Params, peer: Peer) -> str:
            peer.spawn(self._follow(peer))
            return "following"

        return {"block": block, "echo": echo, "follow": follow}

    async def _follow(self, peer: Peer) -> None:
        try:
            await peer.notify("tick", {"n": 1})
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.follower_cancelled.set()
            raise


@pytest.fixture
async def probe() -> Probe:
    return Probe()


@pytest.fixture
async def url(probe: Probe) -> AsyncIterator[str]:
    async def endpoint(websocket: WebSocket) -> None:
        await serve(websocket, probe.methods(), max_message_bytes=1024, max_in_flight=MAX_IN_FLIGHT)

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    async with served(app) as port:
        yield f"ws://127.0.0.1:{port}/ws"


def request(request_id: int, method: str, params: object | None = None) -> str:
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
    )


async def test_a_flooding_connection_is_held_at_its_limit_and_others_are_served(
    probe: Probe, url: str
) -> None:
    async with connect(url) as flooding, connect(url) as other:
        for request_id in range(1, 21):
            await flooding.send(request(request_id, "block"))
        await flooding.send(request(21, "echo", {"say": "queued"}))
        await asyncio.wait_for(probe.reached_limit.wait(), 10)
        # Not read while four run: the echo waits behind them, in the client's own buffers.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(flooding.recv(), 0.3)
        answer, _ = await Rpc(other).call("echo", {"say": "hello"})
        assert answer["result"]["said"] == "hello"
        probe.release.set()
        answers = [json.loads(await asyncio.wait_for(flooding.recv(), 10)) for _ in range(21)]
    assert sorted(a["id"] for a in answers) == list(range(1, 22))
    assert probe.most == MAX_IN_FLIGHT


async def test_tasks_of_a_connection_end_with_it(probe: Probe, url: str) -> None:
    async with connect(url) as socket:
        answer, pushed = await Rpc(socket).call("follow")
        if not pushed:  # the push and the answer race: both arrive, in either order
            pushed.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
        assert answer["result"] == "following"
        assert pushed == [{"jsonrpc": "2.0", "method": "tick", "params": {"n": 1}}]
    await asyncio.wait_for(probe.follower_cancelled.wait(), 10)


async def test_correlation_id_per_request_or_from_the_handshake(url: str) -> None:
    headers = {"X-Correlation-ID": "from-handshake"}
    async with connect(url, additional_headers=headers) as socket:
        rpc = Rpc(socket)
        own, _ = await rpc.call("echo", {"say": "a", "_meta": {"correlation_id": "mine"}})
        default, _ = await rpc.call("echo", {"say": "b"})
        bad_meta, _ = await rpc.call("echo", {"say": "c", "_meta": {"correlation_id": 5}})
    assert own["result"]["correlation"] == "mine"
    assert default["result"]["correlation"] == "from-handshake"
    assert bad_meta["error"]["data"]["field"] == "_meta.correlation_id"


async def test_binary_frames_are_read_as_utf8_json(url: str) -> None:
    async with connect(url) as socket:
        await socket.send(request(1, "echo", {"say": "bytes"}).encode())
        answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
        await socket.send(b"\xff\xfe")
        garbage = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert answer["result"]["said"] == "bytes"
    assert garbage["error"]["code"] == -32700


async def test_a_batch_runs_concurrently_within_the_connections_bound(
    probe: Probe, url: str
) -> None:
    """Each request of a batch takes an in-flight slot, as if sent alone: concurrent (the limit
    is reached by one batch), and a flood of batches is held at the bound like any other."""
    batch = [json.loads(request(n, "block")) for n in range(10)]
    async with connect(url) as flooding, connect(url) as other:
        await flooding.send(json.dumps(batch))
        await asyncio.wait_for(probe.reached_limit.wait(), 10)  # by this one batch alone
        for _ in range(4):
            await flooding.send(json.dumps(batch))
        await flooding.send(request(99, "echo", {"say": "queued"}))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(flooding.recv(), 0.3)
        answer, _ = await Rpc(other).call("echo", {"say": "hello"})
        assert answer["result"]["said"] == "hello"
        probe.release.set()
        answers = [json.loads(await asyncio.wait_for(flooding.recv(), 10)) for _ in range(6)]
    arrays = [a for a in answers if isinstance(a, list)]
    assert len(arrays) == 5
    assert all([a["result"] for a in array] == ["released"] * 10 for array in arrays)
    assert probe.most == MAX_IN_FLIGHT
