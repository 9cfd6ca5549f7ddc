"""The order flow over gRPC, through the four real service processes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from harness.clients.grpc import trailing
from harness.stack.supervisor import Stack
from harness.vocabulary import TERMINAL
from services._generated.orderflow.v1 import (
    inventory_pb2,
    inventory_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
)
from tests.e2e.grpc_client import channel, follows_the_state_machine, place_request, status
from tests.e2e.logs import assert_every_line_names_the_order
from tests.e2e.metrics import downstream_calls
from tests.e2e.rest_client import charge, payment_summary

pytestmark = pytest.mark.e2e

SERVICES = {
    "order": "orderflow.v1.OrderService",
    "inventory": "orderflow.v1.InventoryService",
    "payment": "orderflow.v1.PaymentService",
}


@pytest.fixture(scope="module")
def orders(stack: Stack) -> Iterator[order_pb2_grpc.OrderServiceStub]:
    with channel(stack, "order") as opened:
        yield order_pb2_grpc.OrderServiceStub(opened)


@pytest.fixture(scope="module")
def inventory(stack: Stack) -> Iterator[inventory_pb2_grpc.InventoryServiceStub]:
    with channel(stack, "inventory") as opened:
        yield inventory_pb2_grpc.InventoryServiceStub(opened)


def available(inventory: inventory_pb2_grpc.InventoryServiceStub, sku: str) -> int:
    return inventory.GetProduct(inventory_pb2.GetProductRequest(sku=sku)).available


def test_confirmed_order_is_priced_from_the_catalog(
    stack: Stack,
    http: httpx.Client,
    orders: order_pb2_grpc.OrderServiceStub,
    inventory: inventory_pb2_grpc.InventoryServiceStub,
) -> None:
    catalog = inventory.ListProducts(inventory_pb2.ListProductsRequest()).products
    prices = {product.sku: product.price_cents for product in catalog}
    before = available(inventory, "KB-MECH")
    placed = orders.PlaceOrder(place_request({"KB-MECH": 2, "CABLE-USBC": 1}))
    order = placed.order
    assert status(order) == ("CONFIRMED", None) and not placed.replayed
    assert order.total_cents == 2 * prices["KB-MECH"] + prices["CABLE-USBC"]
    assert {item.sku: item.unit_price_cents for item in order.items} == {
        "KB-MECH": prices["KB-MECH"],
        "CABLE-USBC": prices["CABLE-USBC"],
    }
    assert available(inventory, "KB-MECH") == before - 2
    assert charge(http, stack, order.id) == "CHARGED"
    assert orders.GetOrder(order_pb2.GetOrderRequest(id=order.id)) == order


def test_the_saga_calls_inventory_and_payment_over_grpc(
    stack: Stack, http: httpx.Client, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    before = downstream_calls(stack)
    order = orders.PlaceOrder(place_request({"MOUSE-WL": 1})).order
    assert status(order) == ("CONFIRMED", None)
    after = downstream_calls(stack)
    grew = {
        key: after[key] - before.get(key, 0)
        for key in after
        if after[key] != before.get(key) and key[0] in ("inventory", "payment")
    }
    # (Notifications go over REST in every style and are not compared.)
    assert grew == {
        ("inventory", "grpc.reserve", "ok"): 1,
        ("payment", "grpc.charge", "ok"): 1,
    }


def test_declined_payment_puts_the_stock_back(
    stack: Stack,
    http: httpx.Client,
    orders: order_pb2_grpc.OrderServiceStub,
    inventory: inventory_pb2_grpc.InventoryServiceStub,
) -> None:
    before = available(inventory, "HEADSET")
    order = orders.PlaceOrder(place_request({"HEADSET": 4}, token="tok_chargeDeclined")).order
    assert status(order) == ("CANCELLED", "PAYMENT_DECLINED")
    assert available(inventory, "HEADSET") == before
    assert charge(http, stack, order.id) == "DECLINED"


def test_out_of_stock_charges_nothing(
    stack: Stack,
    http: httpx.Client,
    orders: order_pb2_grpc.OrderServiceStub,
    inventory: inventory_pb2_grpc.InventoryServiceStub,
) -> None:
    before = available(inventory, "KB-MECH")
    order = orders.PlaceOrder(place_request({"KB-MECH": 1, "MUG-RETIRED": 1})).order
    assert status(order) == ("REJECTED", "OUT_OF_STOCK")
    assert charge(http, stack, order.id) is None
    assert available(inventory, "KB-MECH") == before  # all or nothing


def test_idempotent_retry_charges_once_and_a_reused_key_is_refused(
    stack: Stack, http: httpx.Client, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    key = f"grpc-key-{uuid.uuid4().hex}"
    request = place_request({"MOUSE-WL": 1}, key=key)
    charged_before = payment_summary(http, stack)["CHARGED"]
    answers = [orders.PlaceOrder(request) for _ in range(3)]
    assert len({a.order.id for a in answers}) == 1
    assert [a.replayed for a in answers] == [False, True, True]
    payments = payment_summary(http, stack)
    assert payments["CHARGED"] == charged_before + 1
    other = place_request({"MOUSE-WL": 5}, customer=request.customer_id, key=key)
    with pytest.raises(grpc.RpcError) as refused:
        orders.PlaceOrder(other)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert trailing(refused.value)["orderflow-order-id"] == answers[0].order.id
    assert payment_summary(http, stack) == payments


def test_watch_streams_the_statuses_in_order_and_ends_at_the_terminal_one(
    stack: Stack, http: httpx.Client, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    """Payment is held (SIGSTOP) so the order waits RESERVED while the watch begins."""
    request = place_request({"CABLE-USBC": 1})
    stack.pause("payment")
    try:
        placing = orders.PlaceOrder.future(request)
        order_id = wait_for_order(http, stack, request.customer_id, "RESERVED")
        watch = orders.WatchOrder(order_pb2.WatchOrderRequest(id=order_id))
        first = next(watch)
    finally:
        stack.resume("payment")
    seen = [status(first)[0], *(status(update)[0] for update in watch)]
    assert seen == ["RESERVED", "PAID", "CONFIRMED"]
    assert status(placing.result(timeout=30).order) == ("CONFIRMED", None)


def test_watching_an_order_just_placed_follows_the_state_machine(
    orders: order_pb2_grpc.OrderServiceStub,
) -> None:
    order = orders.PlaceOrder(place_request({"KB-MECH": 1}, token="tok_chargeDeclined")).order
    seen = [status(u)[0] for u in orders.WatchOrder(order_pb2.WatchOrderRequest(id=order.id))]
    assert follows_the_state_machine(seen) and seen[-1] in TERMINAL
    assert seen == ["CANCELLED"]  # already finished: the stream is its final state


def wait_for_order(http: httpx.Client, stack: Stack, customer_id: str, wanted: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = http.get(f"{stack.url('order')}/orders", params={"customer_id": customer_id})
        found = answer.json()["orders"]
        if found and found[0]["status"] == wanted:
            return str(found[0]["id"])
        time.sleep(0.02)
    raise AssertionError(f"no {wanted} order for {customer_id} within 10 s")


def test_an_unknown_order_is_not_found(orders: order_pb2_grpc.OrderServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as missing:
        orders.GetOrder(order_pb2.GetOrderRequest(id="no-such-order"))
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as unwatched:
        list(orders.WatchOrder(order_pb2.WatchOrderRequest(id="no-such-order")))
    assert unwatched.value.code() is grpc.StatusCode.NOT_FOUND


BAD_REQUESTS = {
    "wrong token": (place_request({"KB-MECH": 1}, token="tok_amex"), "INVALID_ARGUMENT"),
    "no items": (place_request({}), "INVALID_ARGUMENT"),
    "quantity 0": (place_request({"KB-MECH": 0}), "INVALID_ARGUMENT"),
    "unknown SKU": (place_request({"NO-SUCH-SKU": 1}), "INVALID_ARGUMENT"),
    "oversized": (place_request({"KB-MECH": 1}, customer="c" * 70_000), "RESOURCE_EXHAUSTED"),
}


@pytest.mark.parametrize(("bad", "code"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_input_gets_a_status_and_moves_nothing(
    stack: Stack,
    http: httpx.Client,
    orders: order_pb2_grpc.OrderServiceStub,
    bad: order_pb2.PlaceOrderRequest,
    code: str,
) -> None:
    stock_before = http.get(f"{stack.url('inventory')}/stock").json()
    payments_before = payment_summary(http, stack)
    with pytest.raises(grpc.RpcError) as refused:
        orders.PlaceOrder(bad)
    assert refused.value.code().name == code
    assert refused.value.details()
    assert http.get(f"{stack.url('inventory')}/stock").json() == stock_before
    assert payment_summary(http, stack) == payments_before
    assert orders.PlaceOrder(place_request({"CABLE-USBC": 1})).order.id  # still serving


def test_an_unknown_sku_is_recorded_rejected_and_named(
    orders: order_pb2_grpc.OrderServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        orders.PlaceOrder(place_request({"NO-SUCH-SKU": 1}))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "SKU" in (refused.value.details() or "")
    metadata = trailing(refused.value)
    assert metadata["orderflow-code"] == "UNKNOWN_SKU"
    order = orders.GetOrder(order_pb2.GetOrderRequest(id=metadata["orderflow-order-id"]))
    assert status(order) == ("REJECTED", "UNKNOWN_SKU")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_health_is_serving_and_reflection_lists_the_service(stack: Stack, service: str) -> None:
    with channel(stack, service) as opened:
        health = health_pb2_grpc.HealthStub(opened)
        for name in ("", SERVICES[service]):
            answer = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(opened)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        (listed,) = reflection.ServerReflectionInfo(iter([ask]), timeout=10)
    names = {s.name for s in listed.list_services_response.service}
    assert {SERVICES[service], "grpc.health.v1.Health"} <= names


def test_the_callers_correlation_id_travels_to_every_service(
    stack: Stack, orders: order_pb2_grpc.OrderServiceStub
) -> None:
    correlation_id = f"corr-{uuid.uuid4().hex}"
    placed, call = orders.PlaceOrder.with_call(
        place_request({"KB-MECH": 1}), metadata=(("x-correlation-id", correlation_id),)
    )
    assert dict(call.trailing_metadata() or ())["x-correlation-id"] == correlation_id
    services = ("order", "inventory", "payment")
    assert_every_line_names_the_order(stack, correlation_id, placed.order.id, services)
