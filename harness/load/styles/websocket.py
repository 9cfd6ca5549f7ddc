"""WebSocket: JSON-RPC 2.0 on persistent sockets (one to order, one to inventory per user), with
the `websockets` sync client, which runs under gevent (its reader thread becomes a greenlet).

Placing an order, the order service pushes `order.updated` notifications on the same socket as
the saga moves, and answers the call when the saga has gone as far as it can. `place_order` is
timed to the answer, `order_completed` to the push of the order's terminal status (matched by
order id), which can come before the answer or after it."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from websockets.sync.client import ClientConnection, connect

from harness.clients.shapes import rpc_call
from harness.clients.websocket import RpcError, result, terminal_push
from harness.load import tracing as traced
from harness.load.base import StyleUser
from harness.load.mix import OrderPlan

TIMEOUT_S = 30.0


class RpcSocket:
    """One JSON-RPC connection: numbered calls, and reading whatever comes next."""

    def __init__(self, url: str) -> None:
        self._socket: ClientConnection = connect(url, proxy=None, open_timeout=TIMEOUT_S)
        self._ids = itertools.count(1)

    def send(self, method: str, params: object) -> int:
        call_id = next(self._ids)
        self._socket.send(json.dumps(rpc_call(call_id, method, params)))
        return call_id

    def receive(self, deadline: float) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.receive_raw(deadline))
        return message

    def receive_raw(self, deadline: float) -> str | bytes:
        """The next message as it came: its length is the size reported (not re-encoded)."""
        return self._socket.recv(timeout=deadline - time.time())

    def call(self, method: str, params: object) -> tuple[Any, int]:
        """The result of one call (notifications meanwhile are skipped) and its size."""
        call_id, deadline = self.send(method, params), time.time() + TIMEOUT_S
        while True:
            raw = self.receive_raw(deadline)
            message = json.loads(raw)
            if message.get("id") == call_id:
                return result(message), len(raw)

    def close(self) -> None:
        self._socket.close()


class WebsocketUser(StyleUser):
    abstract = True
    style = "websocket"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._sockets: dict[str, RpcSocket] = {}

    def on_stop(self) -> None:
        for socket in self._sockets.values():
            socket.close()

    def browse_catalog(self) -> None:
        self._call(self.targets.inventory_ws(), "browse_catalog", "list_products", {})

    def get_order(self, order_id: str) -> None:
        self._call(self.targets.order_ws(), "get_order", "get_order", {"id": order_id})

    def noop(self) -> None:
        self._call(self.targets.order_ws(), "noop", "rpc.ping", {})

    def place_order(self, plan: OrderPlan) -> str:
        started, url = self.started(), self.targets.order_ws()
        with self.reporter.measure("place_order", started) as measured:
            socket = self._socket(url)
            try:
                answer, size, pushed = _await_answer(
                    socket, socket.send("place_order", traced.rpc_params(plan.request))
                )
            except Exception:
                self._drop(url)  # no answer: the socket's state is unknown
                raise
            measured.length = size
            order_id = str(result(answer)["id"])
        with self.reporter.measure("order_completed", started, plan.accepted) as measured:
            try:
                final, measured.ended = pushed.get(order_id) or _await_push(socket, order_id)
            except Exception:
                self._drop(url)
                raise
            plan.check(final["status"], final["reason"])
        return order_id

    def _call(self, url: str, name: str, method: str, params: object) -> Any:
        with self.reporter.measure(name, self.started()) as measured:
            try:
                result, measured.length = self._socket(url).call(method, params)
            except RpcError:
                raise  # an answer: the socket is fine
            except Exception:
                self._drop(url)
                raise
        return result

    def _socket(self, url: str) -> RpcSocket:
        if url not in self._sockets:
            self._sockets[url] = RpcSocket(url)
        return self._sockets[url]

    def _drop(self, url: str) -> None:
        socket = self._sockets.pop(url, None)
        if socket is not None:
            socket.close()


Pushed = dict[str, tuple[dict[str, Any], float]]  # order id: its terminal push, and when


def _await_answer(socket: RpcSocket, call_id: int) -> tuple[dict[str, Any], int, Pushed]:
    """The answer to `call_id` and its size, and the terminal pushes that came before it (by
    order id)."""
    deadline, pushed = time.time() + TIMEOUT_S, Pushed()
    while True:
        raw = socket.receive_raw(deadline)
        message = json.loads(raw)
        if message.get("id") == call_id:
            return message, len(raw), pushed
        if (order := terminal_push(message)) is not None:
            pushed[order["id"]] = (order, time.time())


def _await_push(socket: RpcSocket, order_id: str) -> tuple[dict[str, Any], float]:
    """The terminal push of `order_id`, which can come just after the answer."""
    deadline = time.time() + TIMEOUT_S
    while True:
        order = terminal_push(socket.receive(deadline))
        if order is not None and order["id"] == order_id:
            return order, time.time()
