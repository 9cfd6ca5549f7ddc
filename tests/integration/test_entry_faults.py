"""Faults on the order service's `order.place` and notification's `notification.record`: they act
at the entry of the use case, for an adapter's call and for the broker's reaction alike, before
anything is recorded, and clearing them ends them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import CloudEvent, decode, new_event
from services.kernel.contracts import Line
from services.kernel.faults import OPERATIONS, Fault, Faults, InjectedFailure, InjectedUnavailable
from services.kernel.telemetry import Telemetry
from services.notification import main as notification_main
from services.notification.api import amqp as notification_amqp
from services.notification.domain import NotificationRequest
from services.notification.handlers import NotificationHandlers
from services.notification.store import NotificationStore
from services.order import main as order_main
from services.order.api import amqp as order_amqp
from services.order.choreography import OrderChoreography
from services.order.domain import PlaceOrder, Status
from services.order.downstream.interfaces import Downstream
from services.order.handlers import OrderHandlers
from services.order.saga import Saga
from services.order.store import OrderStore
from tests.unit.fakes import FakeInventory, FakeNotifier, FakePayment

LATENCY_MS = 200


@pytest.fixture
def orders(tmp_path: Path) -> Iterator[OrderStore]:
    store = OrderStore.open(tmp_path / "order.db")
    yield store
    store.close()


@pytest.fixture
def notifications(tmp_path: Path) -> Iterator[NotificationStore]:
    store = NotificationStore.open(tmp_path / "notification.db")
    yield store
    store.close()


def order_handlers(store: OrderStore, faults: Faults) -> OrderHandlers:
    inventory = FakeInventory({"KB-MECH": 100}, {"KB-MECH": 8999})
    downstream = Downstream(inventory, FakePayment(), FakeNotifier())
    return OrderHandlers(store, Saga(store, downstream, Telemetry("order")), faults=faults)


def place(key: str) -> PlaceOrder:
    return PlaceOrder("ada", (Line("KB-MECH", 1),), "tok_visa", idempotency_key=key)


def place_command(key: str) -> CloudEvent:
    data = {
        "customer_id": "ada",
        "items": [{"sku": "KB-MECH", "quantity": 1}],
        "payment_token": "tok_visa",
        "idempotency_key": key,
    }
    return new_event(ev.ORDER_PLACE, "orderflow/test", data, "corr-1")


def order_confirmed(order_id: str) -> CloudEvent:
    order = {
        "id": order_id,
        "customer_id": "ada",
        "status": "CONFIRMED",
        "reason": None,
        "items": [{"sku": "KB-MECH", "quantity": 1, "unit_price_cents": 8999}],
        "total_cents": 8999,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:01Z",
    }
    return new_event(ev.ORDER_CONFIRMED, "orderflow/order", {"order": order}, "corr-1", order_id)


async def timed(call: Any) -> float:
    started = time.monotonic()
    await call
    return time.monotonic() - started


async def test_order_place_latency_delays_each_place_request_and_clears(
    orders: OrderStore,
) -> None:
    faults = Faults(OPERATIONS["order"])
    handlers = order_handlers(orders, faults)
    faults.set("order.place", Fault(latency_ms=LATENCY_MS))
    assert await timed(handlers.place_order(place("k-1"))) >= LATENCY_MS / 1000
    broker = order_amqp.routes(OrderChoreography(orders, faults=faults), orders.messages)
    assert await timed(broker[ev.ORDER_PLACE](place_command("k-2"))) >= LATENCY_MS / 1000
    faults.clear("order.place")
    assert await timed(handlers.place_order(place("k-3"))) < LATENCY_MS / 1000


async def test_an_order_place_error_fails_the_request_before_anything_is_recorded(
    orders: OrderStore,
) -> None:
    faults = Faults(OPERATIONS["order"])
    handlers = order_handlers(orders, faults)
    faults.set("order.place", Fault(error_rate=1.0))
    with pytest.raises(InjectedUnavailable):
        await handlers.place_order(place("k-1"))
    faults.set("order.place", Fault(error_rate=1.0, error="permanent"))
    with pytest.raises(InjectedFailure):
        await handlers.place_order(place("k-1"))
    assert orders.status_counts() == {}
    faults.clear()
    order, created = await handlers.place_order(place("k-1"))
    assert created and order.status is Status.CONFIRMED


async def test_the_broker_command_meets_the_same_fault_and_its_retry_goes_through(
    orders: OrderStore,
) -> None:
    faults = Faults(OPERATIONS["order"])
    choreography = OrderChoreography(orders, new_id=lambda: "o-1", faults=faults)
    place_by_broker = order_amqp.routes(choreography, orders.messages)[ev.ORDER_PLACE]
    command = place_command("k-1")
    faults.set("order.place", Fault(error_rate=1.0))
    with pytest.raises(InjectedUnavailable):  # the consumer retries it later
        await place_by_broker(command)
    assert orders.status_counts() == {} and orders.messages.unpublished() == []
    faults.clear()
    await place_by_broker(command)  # the same delivery again: its inbox record was not kept
    assert orders.status_counts() == {"PENDING": 1}
    [placed] = [decode(row.body) for row in orders.messages.unpublished()]
    assert placed.type == ev.ORDER_PLACED and placed.subject == "o-1"


async def test_notification_record_faults_act_on_notify_and_on_the_broker_event(
    notifications: NotificationStore,
) -> None:
    faults = Faults(OPERATIONS["notification"])
    handlers = NotificationHandlers(notifications, faults=faults)
    by_broker = notification_amqp.routes(handlers, notifications.messages)[ev.ORDER_CONFIRMED]
    request = NotificationRequest("o-1", "ada", ev.ORDER_CONFIRMED, None, 8999)
    faults.set("notification.record", Fault(error_rate=1.0))
    with pytest.raises(InjectedUnavailable):
        await handlers.notify(request)
    with pytest.raises(InjectedUnavailable):
        await by_broker(order_confirmed("o-2"))
    assert notifications.summary() == {"notifications": 0, "duplicates": 0}
    faults.set("notification.record", Fault(latency_ms=LATENCY_MS))
    assert await timed(handlers.notify(request)) >= LATENCY_MS / 1000
    assert await timed(by_broker(order_confirmed("o-2"))) >= LATENCY_MS / 1000
    assert notifications.summary() == {"notifications": 2, "duplicates": 0}
    faults.clear()
    assert await timed(handlers.notify(request)) < LATENCY_MS / 1000
    assert notifications.summary() == {"notifications": 2, "duplicates": 1}


@pytest.fixture
async def order_client(orders: OrderStore) -> AsyncIterator[tuple[httpx.AsyncClient, Faults]]:
    faults = Faults(OPERATIONS["order"])
    handlers = order_handlers(orders, faults)

    async def ready() -> Mapping[str, bool]:
        return await handlers.is_ready()

    app = order_main.create_app(handlers, Telemetry("order"), ready, max_body_bytes=4096)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as client:
        yield client, faults


async def test_over_rest_a_transient_order_place_fault_is_a_503_until_cleared(
    order_client: tuple[httpx.AsyncClient, Faults],
) -> None:
    client, faults = order_client
    body = {"customer_id": "ada", "items": [{"sku": "KB-MECH", "quantity": 1}]}
    body["payment_token"] = "tok_visa"
    faults.set("order.place", Fault(error_rate=1.0))
    refused = await client.post("/orders", json=body, headers={"Idempotency-Key": "k-1"})
    assert refused.status_code == 503, refused.text
    faults.clear()
    placed = await client.post("/orders", json=body, headers={"Idempotency-Key": "k-1"})
    assert placed.status_code == 201 and placed.json()["status"] == "CONFIRMED"
    assert "Idempotent-Replayed" not in placed.headers  # the refused request recorded nothing


async def test_over_rest_a_transient_notification_fault_is_a_503_until_cleared(
    notifications: NotificationStore,
) -> None:
    telemetry = Telemetry("notification")
    faults = Faults(OPERATIONS["notification"])
    handlers = notification_main.create_handlers(notifications, telemetry, faults)
    app = notification_main.create_app(handlers, telemetry, max_body_bytes=4096)
    body = {"order_id": "o-1", "customer_id": "ada", "kind": "order.confirmed"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notification") as client:
        faults.set("notification.record", Fault(error_rate=1.0))
        assert (await client.post("/notifications", json=body)).status_code == 503
        faults.clear()
        assert (await client.post("/notifications", json=body)).status_code == 201
