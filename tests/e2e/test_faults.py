"""Application faults on the running stack: set through the control endpoint, they act on the
domain operation, so one fault reaches every style the same way, and clearing it ends it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from harness.clients.faults import (
    FaultControl,
    FaultControlError,
    control_environment,
    controls,
)
from harness.stack.ports import free_ports
from harness.stack.supervisor import Stack, StackConfig
from services._generated.orderflow.v1 import order_pb2_grpc
from tests.e2e import broker_helpers
from tests.e2e.conftest import E2E_ENV, broker_env, remove_topology, start_stack
from tests.e2e.grpc_client import channel, place_request, status
from tests.e2e.metrics import sample_sum
from tests.e2e.rest_client import available, charge, order_body

pytestmark = pytest.mark.e2e

TOKEN = "e2e-control-token-0123456789"
CALL_TIMEOUT_S = 1.0  # the order service's downstream timeout in this stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("faults"),
        **control_environment(TOKEN),
        ORDERFLOW_CALL_TIMEOUT_S=str(CALL_TIMEOUT_S),
    )
    with running:
        yield running
    remove_topology(running)


def control(stack: Stack, service: str) -> FaultControl:
    return controls(stack.config.extra_env)[service]


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client
    for service in ("inventory", "payment"):
        control(stack, service).clear()


def place_rest(http: httpx.Client, stack: Stack, **items: int) -> tuple[dict[str, object], float]:
    started = time.monotonic()
    answer = http.post(f"{stack.url('order')}/orders", json=order_body(items))
    assert answer.status_code == 201, answer.text
    return answer.json(), time.monotonic() - started


def test_added_latency_slows_every_style_alike(stack: Stack, http: httpx.Client) -> None:
    control(stack, "payment").set("payment.charge", latency_ms=400)
    order, took = place_rest(http, stack, **{"KB-MECH": 1})
    assert order["status"] == "CONFIRMED" and took >= 0.4
    with broker_helpers.client(stack) as broker:
        started = time.monotonic()
        answer = broker.place_and_wait(broker_helpers.request(), timeout_s=30)
        took = time.monotonic() - started
    assert answer.type == "order.confirmed" and took >= 0.4
    assert sample_sum(stack, "payment", "orderflow_faults_injected_total", kind="latency") >= 2
    control(stack, "payment").clear()
    order, took = place_rest(http, stack, **{"KB-MECH": 1})
    assert order["status"] == "CONFIRMED" and took < 0.4  # cleared: back to normal


def test_a_transient_error_on_charge_cancels_and_gives_everything_back(
    stack: Stack, http: httpx.Client
) -> None:
    control(stack, "payment").set("payment.charge", error_rate=1.0)
    before = available(http, stack, "HEADSET")
    order, _ = place_rest(http, stack, HEADSET=2)
    assert (order["status"], order["reason"]) == ("CANCELLED", "PAYMENT_FAILED")
    assert available(http, stack, "HEADSET") == before
    assert charge(http, stack, str(order["id"])) in (None, "VOIDED")  # nothing was charged
    control(stack, "payment").clear("payment.charge")
    order, _ = place_rest(http, stack, HEADSET=1)
    assert order["status"] == "CONFIRMED"


def test_a_permanent_error_is_an_internal_error_the_saga_compensates(
    stack: Stack, http: httpx.Client
) -> None:
    control(stack, "payment").set("payment.charge", error_rate=1.0, error="permanent")
    before = available(http, stack, "CABLE-USBC")
    order, _ = place_rest(http, stack, **{"CABLE-USBC": 1})
    assert (order["status"], order["reason"]) == ("CANCELLED", "PAYMENT_FAILED")
    # The 500 left the pooled connection open, so the compensation went through at once, in
    # the saga itself: the stock is back when the answer comes, with no recovery pass needed.
    assert available(http, stack, "CABLE-USBC") == before
    saga = http.get(f"{stack.url('order')}/orders/{order['id']}/saga").json()["steps"]
    assert ("compensate", "postponed") not in [(s["step"], s["outcome"]) for s in saga]
    assert sample_sum(stack, "payment", "orderflow_faults_injected_total", kind="permanent") >= 1
    assert sample_sum(stack, "payment", "orderflow_http_requests_total", status="500") >= 1


def test_a_cleared_hang_lets_the_broker_deliveries_it_held_finish(
    stack: Stack, http: httpx.Client
) -> None:
    control(stack, "inventory").set("inventory.reserve", hang=True)
    with broker_helpers.client(stack) as broker:
        correlation_ids = [broker.place(broker_helpers.request()) for _ in range(3)]
        time.sleep(1.0)  # inventory holds all three deliveries, unacknowledged
        control(stack, "inventory").clear()
        answers = [broker.wait(cid, timeout_s=30) for cid in correlation_ids]
    assert [answer.type for answer in answers] == ["order.confirmed"] * 3


def test_a_hang_is_cut_by_the_callers_timeout_in_grpc_too(stack: Stack, http: httpx.Client) -> None:
    control(stack, "inventory").set("inventory.reserve", hang=True)
    with channel(stack, "order") as opened:
        orders = order_pb2_grpc.OrderServiceStub(opened)
        started = time.monotonic()
        answer = orders.PlaceOrder(place_request({"MOUSE-WL": 1}), timeout=30)
        took = time.monotonic() - started
        assert status(answer.order) == ("REJECTED", "INVENTORY_UNAVAILABLE")
        assert CALL_TIMEOUT_S <= took < 10 * CALL_TIMEOUT_S
        control(stack, "inventory").clear()
        answer = orders.PlaceOrder(place_request({"MOUSE-WL": 1}), timeout=30)
        assert status(answer.order) == ("CONFIRMED", None)


def test_the_control_endpoint_wants_its_token(stack: Stack) -> None:
    port = int(stack.config.extra_env["ORDERFLOW_PAYMENT_CONTROL_PORT"])
    with pytest.raises(FaultControlError, match="401"):
        FaultControl(port, "not-the-token-at-all").set("payment.charge", hang=True)
    with pytest.raises(FaultControlError, match="400 error_rate"):
        control(stack, "payment").set("payment.charge", error_rate=3)
    assert control(stack, "payment").active() == {}


def test_without_a_token_a_service_has_no_control_endpoint(tmp_path: Path) -> None:
    [port] = free_ports(1, "127.0.0.1")
    # A port, but no token; and a broker namespace of its own, removed afterwards.
    env = {**E2E_ENV, **broker_env(), "ORDERFLOW_PAYMENT_CONTROL_PORT": str(port)}
    alone = Stack(StackConfig.on_free_ports(tmp_path, services=("payment",), extra_env=env))
    try:
        alone.start(reset=True, timeout_s=60)
        with pytest.raises(FaultControlError, match="does not answer"):
            FaultControl(port, TOKEN).active()
    finally:
        alone.stop()
        remove_topology(alone)


def test_after_a_500_the_same_connection_serves_the_next_request(stack: Stack) -> None:
    """A permanent fault is an unexpected error: it is answered (500) and the keep-alive
    connection stays open, so a client reusing it (the order service's pool, sending a
    compensation right after) is not cut off."""
    control(stack, "inventory").set("inventory.products", error_rate=1.0, error="permanent")
    address = urlsplit(stack.url("inventory"))
    connection = HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        statuses = []
        for path in ("/products", "/health"):
            connection.request("GET", path)  # on the same socket: no reconnect in between
            answer = connection.getresponse()
            answer.read()
            statuses.append(answer.status)
        assert statuses == [500, 200]
    finally:
        connection.close()
        control(stack, "inventory").clear()
