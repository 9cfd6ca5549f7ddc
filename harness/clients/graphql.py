"""The GraphQL client: queries and mutations POSTed over HTTP, and subscriptions over
graphql-transport-ws by hand (connection_init/ack, subscribe, next, complete) with the
`websockets` client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from harness.clients.documents import PLACE_ORDER, PROTOCOL, payload, place_input
from harness.clients.shapes import Placed, Request


class Refused(Exception):
    """placeOrder answered with a failure member that carries no order."""


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/graphql"


def post(
    http: httpx.Client, url: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The decoded answer to a POST of `query` to the service at `url`."""
    answer = http.post(f"{url}/graphql", json=payload(query, variables))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def place(http: httpx.Client, url: str, request: Request) -> Placed:
    """placeOrder; an unknown SKU answers with the order it rejected (UnknownSku.order)."""
    result = post(http, url, PLACE_ORDER, {"input": place_input(request)})["data"]["placeOrder"]
    order = result.get("order", result)
    if "id" not in order:
        raise Refused(f"placeOrder refused: {result.get('code')}: {result.get('message')}")
    return Placed(order["id"], order["status"], order["reason"], order["totalCents"])


class SubscriptionEnded(RuntimeError):
    """The server ended a subscription (`error` or `complete`) before the update awaited."""


def subscribe_message(op_id: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """graphql-transport-ws `subscribe`: run `query` as the operation `op_id`."""
    return {"id": op_id, "type": "subscribe", "payload": payload(query, variables)}


def next_data(message: dict[str, Any], op_id: str) -> dict[str, Any] | None:
    """The `data` of a `next` message of `op_id`; None for another operation's message (the
    tail of an earlier subscription on the same socket). An `error` or `complete` raises."""
    if message.get("id") != op_id:
        return None
    if message.get("type") != "next":
        raise SubscriptionEnded(f"the subscription ended early: {message}")
    data: dict[str, Any] = message["payload"]["data"]
    return data


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
        await self.send(subscribe_message(op_id, query, variables))

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
