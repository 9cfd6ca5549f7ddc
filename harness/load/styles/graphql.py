"""GraphQL: queries and mutations POSTed over HTTP (see http.py). `placeOrder` answers once the
saga has gone as far as it can: when that is a terminal status, the answer is the completion;
otherwise the completion comes from an `orderUpdates` subscription over graphql-transport-ws,
on one WebSocket per user kept open (the `websockets` sync client, which runs under gevent)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from locust.contrib.fasthttp import ResponseContextManager
from locust.exception import RescheduleTask
from websockets.sync.client import ClientConnection, connect

from harness.clients.documents import (
    NOOP,
    ORDER,
    ORDER_UPDATES_BRIEF,
    PLACE_ORDER_BRIEF,
    PRODUCTS,
    PROTOCOL,
    payload,
    place_input,
)
from harness.clients.graphql import next_data, subscribe_message
from harness.load import tracing as traced
from harness.load.mix import OrderPlan
from harness.load.styles.http import TIMEOUT_S, HttpStyleUser, http_problem
from harness.vocabulary import TERMINAL


class GraphqlUser(HttpStyleUser):
    abstract = True
    style = "graphql"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._updates: ClientConnection | None = None

    def on_stop(self) -> None:
        if self._updates is not None:
            self._updates.close()

    def browse_catalog(self) -> None:
        self._query(f"{self.targets.inventory_http}/graphql", "browse_catalog", PRODUCTS)

    def place_order(self, plan: OrderPlan) -> str:
        started = self.started()
        variables = {"input": place_input(plan.request)}
        data = self._query("/graphql", "place_order", PLACE_ORDER_BRIEF, variables)
        placed = (data or {}).get("placeOrder")
        if not isinstance(placed, dict) or placed.get("__typename") != "Order":
            raise RescheduleTask()  # refused: reported as place_order
        with self.reporter.measure("order_completed", started, plan.accepted):
            outcome = (placed["status"], placed["reason"])
            if placed["status"] not in TERMINAL:  # the saga could not finish yet: follow it
                outcome = self._follow_until_terminal(placed["id"])
            plan.check(*outcome)
            return str(placed["id"])

    def get_order(self, order_id: str) -> None:
        self._query("/graphql", "get_order", ORDER, {"id": order_id})

    def noop(self) -> None:
        self._query("/graphql", "noop", NOOP)

    def _query(
        self, url: str, name: str, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        body = payload(query, variables)
        headers = traced.headers()  # an order's trace context, when placing one
        with self.client.post(
            url, json=body, headers=headers, name=name, catch_response=True
        ) as answer:
            return _data(answer)

    def _follow_until_terminal(self, order_id: str) -> tuple[str, str | None]:
        socket = self._updates or self._open_updates()
        try:
            return self._follow(socket, order_id)
        except Exception:
            socket.close()  # its state is unknown now: the next order opens a fresh one
            self._updates = None
            raise

    def _follow(self, socket: ClientConnection, order_id: str) -> tuple[str, str | None]:
        op_id = uuid.uuid4().hex
        subscribe = subscribe_message(op_id, ORDER_UPDATES_BRIEF, {"id": order_id})
        socket.send(json.dumps(subscribe))
        while True:
            data = next_data(json.loads(socket.recv(timeout=TIMEOUT_S)), op_id)
            if data is None:
                continue  # the tail of an earlier subscription
            update = data["orderUpdates"]
            if update["status"] in TERMINAL:
                socket.send(json.dumps({"id": op_id, "type": "complete"}))
                return update["status"], update["reason"]

    def _open_updates(self) -> ClientConnection:
        url = "ws" + self.targets.order_http.removeprefix("http") + "/graphql"
        socket = connect(url, subprotocols=[PROTOCOL], proxy=None, open_timeout=TIMEOUT_S)
        socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        if json.loads(socket.recv(timeout=TIMEOUT_S)).get("type") != "connection_ack":
            socket.close()
            raise RuntimeError("the GraphQL WebSocket was not acknowledged")
        self._updates = socket
        return socket


def _data(answer: ResponseContextManager) -> dict[str, Any] | None:
    """`data` of a GraphQL answer; an HTTP error or GraphQL `errors` marks the call failed."""
    if answer.status_code != 200:
        answer.failure(http_problem(answer))
        return None
    try:
        body = answer.json()
    except ValueError:
        body = None
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(body, dict) and body.get("errors"):
        answer.failure(f"GraphQL error: {str(body['errors'][0])[:120]}")
        return None
    if not isinstance(data, dict):
        answer.failure(f"not a GraphQL answer: {(answer.text or '')[:120]}")
        return None
    # A mutation's expected failures are union members (UnknownSku, InvalidInput, ...).
    field: Any = next(iter(data.values()), None)
    if isinstance(field, dict) and field.get("__typename") not in (None, "Order"):
        answer.failure(f"{field['__typename']}: {str(field.get('message'))[:120]}")
    return data
