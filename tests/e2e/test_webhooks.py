"""Webhooks through the four real service processes: a place-order request with a callback_url
gets the final order POSTed to it by notification, signed as Standard Webhooks says, retried,
and dead-lettered after the last try; a callback URL off the allow-list is refused in each style
before anything is written.

The receiver is a tiny HTTP server in this test (on loopback, the default allow-list). It gets
its secret the documented way (`python -m services.kernel.webhooks secret CUSTOMER_ID`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from harness.clients.broker import BrokerOrderClient
from harness.clients.websocket import rpc_socket
from harness.rabbit import admin as rabbit_admin
from harness.stack.supervisor import Stack
from services._generated.orderflow.v1 import order_pb2_grpc
from services.kernel.webhooks import VerificationError, decode_secret, verify
from tests.e2e.broker_helpers import broker_url, client, require_broker, topology, wait_until
from tests.e2e.conftest import remove_topology, start_stack
from tests.e2e.grpc_client import channel, place_request
from tests.e2e.rest_client import order_body
from tests.e2e.ws_client import place_params, ws_url

pytestmark = pytest.mark.e2e

MASTER = "e2e-webhook-master-secret"
RETRY_DELAYS_MS = "300,300,300"  # four tries in all, quickly
REFUSED = "http://169.254.169.254/latest/meta-data/"  # a classic target, off the allow-list


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    """Answers by path: /ok/* 204, /flaky/* 500 twice then 204, /fail/* always 500,
    /redirect/* 307 to /ok/ (which must not be followed)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                answered = receiver.answer(self.path)
                delivery = Delivery(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body, answered
                )
                with receiver._lock:
                    receiver.deliveries.append(delivery)
                self.send_response(answered)
                if answered == 307:
                    self.send_header("Location", self.path.replace("/redirect/", "/ok/"))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str) -> int:
        seen = len(self.to(path))
        if path.startswith("/flaky/"):
            return 500 if seen < 2 else 204
        if path.startswith("/fail/"):
            return 500
        if path.startswith("/redirect/"):
            return 307
        return 204

    def to(self, path: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.path == path]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir: Path = tmp_path_factory.mktemp("webhooks")
    running = start_stack(
        data_dir,
        ORDERFLOW_WEBHOOK_SECRET=MASTER,
        ORDERFLOW_WEBHOOK_RETRY_DELAYS_MS=RETRY_DELAYS_MS,
    )
    with running:
        yield running
    remove_topology(running)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as opened:
        yield opened


def receiver_secret(customer_id: str) -> bytes:
    """What the docs tell an operator to run for a receiver."""
    shown = subprocess.run(
        [sys.executable, "-m", "services.kernel.webhooks", "secret", customer_id],
        env={**os.environ, "ORDERFLOW_WEBHOOK_SECRET": MASTER},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown.startswith("whsec_")
    return decode_secret(shown)


def place(http: httpx.Client, stack: Stack, callback: str, **extra: Any) -> dict[str, Any]:
    customer = f"wh-{uuid.uuid4().hex[:12]}"
    body = {**order_body({"KB-MECH": 1}, customer=customer), "callback_url": callback, **extra}
    answer = http.post(f"{stack.url('order')}/orders", json=body)
    assert answer.status_code == 201, answer.text
    order: dict[str, Any] = answer.json()
    return order


def webhooks(http: httpx.Client, stack: Stack, state: str) -> list[dict[str, Any]]:
    answer = http.get(f"{stack.url('notification')}/webhooks", params={"state": state})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["webhooks"]
    return found


def webhook_of(http: httpx.Client, stack: Stack, order_id: str, state: str) -> dict[str, Any]:
    def ended() -> bool:
        return any(w["order_id"] == order_id for w in webhooks(http, stack, state))

    wait_until(ended, timeout_s=30, what=f"order {order_id}'s webhook {state}")
    return next(w for w in webhooks(http, stack, state) if w["order_id"] == order_id)


def test_a_receiver_gets_the_final_order_signed_and_refuses_a_replay(
    stack: Stack, http: httpx.Client, receiver: Receiver
) -> None:
    path = f"/ok/{uuid.uuid4().hex}"
    order = place(http, stack, receiver.url + path)
    assert order["status"] == "CONFIRMED"
    wait_until(lambda: len(receiver.to(path)) == 1, timeout_s=30, what="the webhook")
    got = receiver.to(path)[0]
    key = receiver_secret(order["customer_id"])
    verify(key, got.headers, got.body)  # signed with the customer's secret, timestamp fresh
    sent = json.loads(got.body)
    assert sent["type"] == "order.confirmed"
    # The final order, whole: what GET /orders/{id} answers, not a summary.
    assert sent["data"] == http.get(f"{stack.url('order')}/orders/{order['id']}").json()
    assert got.headers["webhook-id"] == f"msg_{order['id']}"
    # The same delivery played again later: its timestamp is old, the verifier refuses it.
    later = int(got.headers["webhook-timestamp"]) + 600
    with pytest.raises(VerificationError, match="tolerance"):
        verify(key, got.headers, got.body, now=later)
    # And another customer's secret does not verify it.
    with pytest.raises(VerificationError):
        verify(receiver_secret("someone-else"), got.headers, got.body)


def test_an_order_accepted_asynchronously_gets_the_final_order_from_the_choreography(
    stack: Stack, http: httpx.Client, receiver: Receiver
) -> None:
    """202 + Location: the choreography runs the order, and notification's webhook (fed by the
    order.confirmed event this time, not by order's REST call) carries the same whole order."""
    require_broker(broker_url(stack))
    path = f"/ok/{uuid.uuid4().hex}"
    body = {**order_body({"KB-MECH": 1}), "callback_url": receiver.url + path}
    answer = http.post(
        f"{stack.url('order')}/orders", json=body, headers={"Prefer": "respond-async"}
    )
    assert answer.status_code == 202, answer.text
    wait_until(lambda: len(receiver.to(path)) == 1, timeout_s=30, what="the webhook")
    sent = json.loads(receiver.to(path)[0].body)
    final = http.get(f"{stack.url('order')}{answer.headers['location']}").json()
    assert sent["type"] == "order.confirmed"
    assert sent["data"] == final


def test_a_receiver_failing_twice_gets_it_on_the_third_try_exactly_once(
    stack: Stack, http: httpx.Client, receiver: Receiver
) -> None:
    path = f"/flaky/{uuid.uuid4().hex}"
    order = place(http, stack, receiver.url + path, payment_token="tok_chargeDeclined")
    assert order["status"] == "CANCELLED"
    webhook = webhook_of(http, stack, order["id"], "delivered")
    assert webhook["attempts"] == 3
    tries = receiver.to(path)
    assert [t.answered for t in tries] == [500, 500, 204]
    assert len({t.headers["webhook-id"] for t in tries}) == 1  # one webhook, tried three times
    assert json.loads(tries[-1].body)["data"]["reason"] == "PAYMENT_DECLINED"


@pytest.mark.parametrize("kind", ["fail", "redirect"])
def test_a_receiver_that_never_takes_it_ends_in_the_dead_letter_record(
    stack: Stack, http: httpx.Client, receiver: Receiver, kind: str
) -> None:
    path = f"/{kind}/{uuid.uuid4().hex}"
    order = place(http, stack, receiver.url + path)
    dead = webhook_of(http, stack, order["id"], "dead")
    tries = 1 + len(RETRY_DELAYS_MS.split(","))
    assert dead["attempts"] == tries
    assert dead["last_error"] == ("HTTP 500" if kind == "fail" else "HTTP 307")
    assert len(receiver.to(path)) == tries
    if kind == "redirect":  # never followed: nothing went where it pointed
        assert receiver.to(path.replace("/redirect/", "/ok/")) == []
    metrics = http.get(f"{stack.url('notification')}/metrics").text
    assert 'orderflow_webhooks{state="dead"}' in metrics


def orders_of(http: httpx.Client, stack: Stack, customer: str) -> list[Any]:
    answer = http.get(f"{stack.url('order')}/orders", params={"customer_id": customer})
    found: list[Any] = answer.json()["orders"]
    return found


def test_rest_refuses_a_callback_off_the_allow_list(stack: Stack, http: httpx.Client) -> None:
    body = {**order_body({"KB-MECH": 1}, customer="wh-rest-refused"), "callback_url": REFUSED}
    answer = http.post(f"{stack.url('order')}/orders", json=body)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "callback_url host must be one of" in answer.json()["detail"]
    assert orders_of(http, stack, "wh-rest-refused") == []


def test_grpc_refuses_a_callback_off_the_allow_list(stack: Stack, http: httpx.Client) -> None:
    request = place_request({"KB-MECH": 1}, customer="wh-grpc-refused")
    request.callback_url = "gopher://127.0.0.1:25/"
    with channel(stack, "order") as opened, pytest.raises(grpc.RpcError) as refused:
        order_pb2_grpc.OrderServiceStub(opened).PlaceOrder(request, timeout=30)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "http or https" in (refused.value.details() or "")
    assert orders_of(http, stack, "wh-grpc-refused") == []


def test_graphql_refuses_a_callback_off_the_allow_list(stack: Stack, http: httpx.Client) -> None:
    mutation = (
        "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {"
        " __typename ... on InvalidInput { code message field } } }"
    )
    variables = {
        "input": {
            "customerId": "wh-graphql-refused",
            "items": [{"sku": "KB-MECH", "quantity": 1}],
            "paymentToken": "tok_visa",
            "callbackUrl": "http://user:pw@127.0.0.1/hook",
        }
    }
    answer = http.post(
        f"{stack.url('order')}/graphql", json={"query": mutation, "variables": variables}
    )
    result = answer.json()["data"]["placeOrder"]
    assert result["__typename"] == "InvalidInput"
    assert result["field"] == "callbackUrl"  # the field as the client spelt it
    assert "user information" in result["message"]
    assert orders_of(http, stack, "wh-graphql-refused") == []


def test_json_rpc_refuses_a_callback_off_the_allow_list(stack: Stack, http: httpx.Client) -> None:
    params = place_params(
        {"KB-MECH": 1}, customer="wh-ws-refused", callback_url="http://127.0.0.1/" + "a" * 2048
    )
    with rpc_socket(ws_url(stack)) as socket:
        reply = socket.call("place_order", params)
    error = reply.response["error"]
    assert error["code"] == -32602
    assert error["data"]["code"] == "INVALID_REQUEST"
    assert orders_of(http, stack, "wh-ws-refused") == []


def test_the_broker_command_with_a_refused_callback_is_dead_lettered(
    stack: Stack, http: httpx.Client
) -> None:
    require_broker(broker_url(stack))
    customer = f"wh-bk-{uuid.uuid4().hex[:8]}"
    request = {**order_body({"KB-MECH": 1}, customer=customer), "callback_url": REFUSED}
    correlation = f"wh-refused-{uuid.uuid4().hex[:8]}"
    broker: BrokerOrderClient
    with client(stack) as broker:
        broker.place(request, correlation_id=correlation)

    def reason() -> str | None:
        letters = rabbit_admin.dead_letters(broker_url(stack), topology(stack))["order"]
        return next((d.reason for d in letters if d.correlation_id == correlation), None)

    wait_until(lambda: reason() is not None, what="the dead-lettered order.place")
    assert "callback_url" in (reason() or "")
    assert orders_of(http, stack, customer) == []


def test_a_restart_of_notification_resumes_an_owed_webhook(
    stack: Stack, http: httpx.Client, receiver: Receiver
) -> None:
    path = f"/flaky/{uuid.uuid4().hex}"
    order = place(http, stack, receiver.url + path)
    wait_until(lambda: len(receiver.to(path)) >= 1, timeout_s=30, what="the first try")
    stack.kill("notification")
    stack.restart("notification")
    webhook_of(http, stack, order["id"], "delivered")
    assert [t.answered for t in receiver.to(path)] == [500, 500, 204]
    time.sleep(1)  # longer than a retry delay: a settled webhook is never sent again
    assert len(receiver.to(path)) == 3
