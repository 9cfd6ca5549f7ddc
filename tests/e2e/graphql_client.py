"""Talking GraphQL to a service in tests: POST /graphql, and graphql-transport-ws by hand
(connection_init/ack, subscribe, next, complete) with the `websockets` client.

The in-process tests also use `serving`, which puts an app on a real socket, since a WebSocket
needs one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp
from websockets.asyncio.client import ClientConnection, connect

from harness.clients import documents
from harness.clients.documents import PROTOCOL
from harness.clients.shapes import order_request


def place_input(
    items: dict[str, int],
    customer: str,
    token: str = "tok_visa",
    key: str | None = None,
) -> dict[str, Any]:
    return documents.place_input(order_request(items, token, customer, key))


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/graphql"


def post(
    http: httpx.Client, url: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer = http.post(f"{url}/graphql", json=documents.payload(query, variables))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


class TransportWS:
    """One graphql-transport-ws connection, acknowledged."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, timeout_s: float = 15.0) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.socket.recv(), timeout_s))
        return message

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any]) -> None:
        payload = documents.payload(query, variables)
        await self.send({"id": op_id, "type": "subscribe", "payload": payload})

    async def until_complete(self, op_id: str) -> list[dict[str, Any]]:
        """The payloads of `next` messages up to `complete`; an `error` message fails."""
        payloads: list[dict[str, Any]] = []
        while True:
            message = await self.receive()
            assert message.get("id") == op_id, message
            if message["type"] == "complete":
                return payloads
            assert message["type"] == "next", message
            payloads.append(message["payload"])


@contextlib.asynccontextmanager
async def transport_ws(
    url: str, init: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[TransportWS]:
    async with connect(
        url, subprotocols=[PROTOCOL], additional_headers=headers, proxy=None
    ) as socket:
        connection = TransportWS(socket)
        await connection.send({"type": "connection_init", "payload": init or {}})
        assert (await connection.receive())["type"] == "connection_ack"
        yield connection


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner owns the signals
        yield


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, ws_max_size: int = 2 * 65536) -> AsyncIterator[str]:
    """Serve `app` on a free local port in this event loop (as services/kernel/serve.py does);
    yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        access_log=False,
        log_config=None,
        ws="websockets-sansio",
        ws_max_size=ws_max_size,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
