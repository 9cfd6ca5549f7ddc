"""A small JSON-RPC 2.0 WebSocket client for the e2e tests: raw messages in, parsed answers out."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.client import ClientConnection, connect

from harness.clients.shapes import order_request, rpc_call
from harness.stack.supervisor import Stack

TIMEOUT_S = 30.0


def ws_url(stack: Stack, service: str = "order") -> str:
    return "ws" + stack.url(service).removeprefix("http") + "/ws"


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
def rpc_socket(stack: Stack) -> Iterator[RpcSocket]:
    with connect(ws_url(stack), proxy=None) as socket:
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


def place_params(
    items: dict[str, int], token: str = "tok_visa", customer: str = "ws-customer", **extra: Any
) -> dict[str, Any]:
    return {**order_request(items, token, customer), **extra}
