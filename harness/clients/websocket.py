"""The JSON-RPC 2.0 WebSocket client: raw messages in, parsed answers out, and placing an order
(the `order.updated` notifications pushed meanwhile are kept with the answer). What a message
means (a call's result or error, an order's terminal push) is read here for every client, the
Locust user's too (it keeps its own socket, to time each push as it arrives)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.client import ClientConnection, connect

from harness.clients.shapes import Placed, Request, rpc_call
from harness.vocabulary import TERMINAL

TIMEOUT_S = 30.0


class Refused(Exception):
    """place_order answered with an error that carries no order."""


class RpcError(Exception):
    """The server answered a call with a JSON-RPC error object."""


def result(message: dict[str, Any]) -> Any:
    """A response's result; its error raised as RpcError."""
    if "error" in message:
        error = message["error"]
        raise RpcError(f"JSON-RPC {error.get('code')}: {str(error.get('message'))[:120]}")
    return message["result"]


def terminal_push(message: dict[str, Any]) -> dict[str, Any] | None:
    """The order an `order.updated` notification carries, if it is in a terminal status."""
    if message.get("method") != "order.updated":
        return None
    order: dict[str, Any] = message["params"]
    return order if order["status"] in TERMINAL else None


@dataclass
class Exchange:
    """The response to one request, and the notifications that arrived before it."""

    response: dict[str, Any]
    notifications: list[dict[str, Any]]

    @property
    def result(self) -> Any:
        assert "error" not in self.response, self.response
        return self.response["result"]

    @property
    def error(self) -> dict[str, Any]:
        assert "error" in self.response, self.response
        error: dict[str, Any] = self.response["error"]
        return error

    def statuses(self) -> list[str]:
        assert all(n["method"] == "order.updated" for n in self.notifications)
        return [n["params"]["status"] for n in self.notifications]


@contextlib.contextmanager
def rpc_socket(url: str) -> Iterator[RpcSocket]:
    with connect(url, proxy=None, open_timeout=TIMEOUT_S) as socket:
        yield RpcSocket(socket)


@dataclass
class RpcSocket:
    socket: ClientConnection
    next_id: int = 0
    early: list[dict[str, Any]] = field(default_factory=list)  # notifications not yet claimed

    def call(self, method: str, params: object = None) -> Exchange:
        self.next_id += 1
        self.socket.send(json.dumps(rpc_call(self.next_id, method, params)))
        return self.until_response()

    def send_raw(self, text: str) -> Exchange:
        self.socket.send(text)
        return self.until_response()

    def until_response(self) -> Exchange:
        """Read until a response arrives (requests here go one at a time, or see `responses`)."""
        while True:
            message = self.receive()
            if "method" not in message:
                pushed, self.early = self.early, []
                return Exchange(message, pushed)
            self.early.append(message)

    def responses(self, count: int) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        while len(answers) < count:
            message = self.receive()
            (self.early if "method" in message else answers).append(message)
        return answers

    def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.socket.recv(timeout=TIMEOUT_S))
        return message


def place(socket: RpcSocket, request: Request) -> Placed:
    """place_order; an unknown SKU is an error whose data carries the order it rejected."""
    reply = socket.call("place_order", request)
    if "error" not in reply.response:
        return Placed.from_json(reply.result)
    order = reply.error.get("data", {}).get("order")
    if order is None:
        raise Refused(f"place_order refused: {reply.error}")
    return Placed.from_json(order)
