"""The JSON-RPC WebSocket client (harness/clients/websocket.py) pointed at a test stack."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from harness.clients import websocket
from harness.clients.shapes import order_request
from harness.stack.supervisor import Stack


def ws_url(stack: Stack, service: str = "order") -> str:
    return "ws" + stack.url(service).removeprefix("http") + "/ws"


@contextlib.contextmanager
def rpc_socket(stack: Stack) -> Iterator[websocket.RpcSocket]:
    with websocket.rpc_socket(ws_url(stack)) as socket:
        yield socket


def place_params(
    items: dict[str, int], token: str = "tok_visa", customer: str = "ws-customer", **extra: Any
) -> dict[str, Any]:
    return {**order_request(items, token, customer), **extra}
