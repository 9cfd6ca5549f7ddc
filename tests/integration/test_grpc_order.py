"""The order gRPC adapter in-process over real HTTP/2: real SQLite store and saga, fakes of the
downstream ports (as the REST adapter's integration test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from services._generated.orderflow.v1 import common_pb2, order_pb2, order_pb2_grpc
from services.kernel.contracts import Line
from services.kernel.telemetry import Telemetry
from services.order.api.grpc import create_server
from services.order.domain import OrderLine
from services.order.downstream.interfaces import Downstream
from services.order.handlers import OrderHandlers
from services.order.saga import Saga
from services.order.store import OrderStore
from tests.unit.fakes import FakeInventory, FakeNotifier, FakePayment

MAX_MESSAGE_BYTES = 4096
Status = order_pb2.Order.Status


class GatedInventory(FakeInventory):
    """Holds reservations until the gate opens, so a test can watch an order from PENDING."""

    gate: asyncio.Event | None = None
    waiting: asyncio.Event | None = None

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        if self.gate is not None and self.waiting is not None:
            self.waiting.set()
            await self.gate.wait()
        return await super().reserve(order_id, lines)


class World:
    def __init__(self, path: Path) -> None:
        self.inventory = GatedInventory({"KB-MECH": 100, "MUG-RETIRED": 0}, {"KB-MECH": 8999})
        self.payment = FakePayment()
        self.store = OrderStore.open(path)
        downstream = Downstream(self.inventory, self.payment, FakeNotifier())
        self.handlers = OrderHandlers(self.store, Saga(self.store, downstream, Telemetry("order")))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "order.db")


@pytest.fixture
async def stub(world: World) -> AsyncIterator[order_pb2_grpc.OrderServiceAsyncStub]:
    server, port = create_server(
        world.handlers, "127.0.0.1", 0, max_message_bytes=MAX_MESSAGE_BYTES
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield order_pb2_grpc.OrderServiceStub(channel)
    finally:
        await server.stop(None)
        world.store.close()


def request(
    sku: str = "KB-MECH", quantity: int = 2, token: str = "tok_visa", key: str = ""
) -> order_pb2.PlaceOrderRequest:
    return order_pb2.PlaceOrderRequest(
        customer_id="c1",
        items=[common_pb2.LineItem(sku=sku, quantity=quantity)],
        payment_token=token,
        idempotency_key=key,
    )


def trailing(error: grpc.aio.AioRpcError) -> dict[str, str | bytes]:
    return dict(error.trailing_metadata() or ())


async def test_place_then_get(stub: order_pb2_grpc.OrderServiceAsyncStub) -> None:
    call = stub.PlaceOrder(request())
    placed = await call
    order = placed.order
    assert (order.status, order.reason, order.total_cents) == (
        Status.Value("CONFIRMED"),
        order_pb2.Order.REASON_UNSPECIFIED,
        17998,
    )
    assert [(i.sku, i.quantity, i.unit_price_cents) for i in order.items] == [("KB-MECH", 2, 8999)]
    assert order.customer_id == "c1" and order.created_at and order.updated_at
    assert not placed.replayed
    assert dict(await call.trailing_metadata() or ())["x-correlation-id"] == order.id
    assert await stub.GetOrder(order_pb2.GetOrderRequest(id=order.id)) == order


async def test_a_supplied_correlation_id_is_kept(
    stub: order_pb2_grpc.OrderServiceAsyncStub,
) -> None:
    call = stub.PlaceOrder(request(), metadata=(("x-correlation-id", "corr-1"),))
    await call
    assert dict(await call.trailing_metadata() or ())["x-correlation-id"] == "corr-1"


async def test_business_outcomes_are_orders(stub: order_pb2_grpc.OrderServiceAsyncStub) -> None:
    declined = (await stub.PlaceOrder(request(token="tok_chargeDeclined"))).order
    assert (Status.Name(declined.status), order_pb2.Order.Reason.Name(declined.reason)) == (
        "CANCELLED",
        "PAYMENT_DECLINED",
    )
    sold_out = (await stub.PlaceOrder(request(sku="MUG-RETIRED", quantity=1))).order
    assert (Status.Name(sold_out.status), order_pb2.Order.Reason.Name(sold_out.reason)) == (
        "REJECTED",
        "OUT_OF_STOCK",
    )
    assert not sold_out.HasField("total_cents")
    assert not sold_out.items[0].HasField("unit_price_cents")


async def test_unknown_sku_is_invalid_argument_naming_the_recorded_order(
    stub: order_pb2_grpc.OrderServiceAsyncStub, world: World
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.PlaceOrder(request(sku="NOPE"))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "SKU" in (refused.value.details() or "")
    metadata = trailing(refused.value)
    assert metadata["orderflow-code"] == "UNKNOWN_SKU"
    order_id = str(metadata["orderflow-order-id"])
    order = await stub.GetOrder(order_pb2.GetOrderRequest(id=order_id))
    assert (Status.Name(order.status), order_pb2.Order.Reason.Name(order.reason)) == (
        "REJECTED",
        "UNKNOWN_SKU",
    )
    assert world.payment.calls == [] and world.inventory.stock["KB-MECH"] == 100


async def test_idempotency_key_replays_and_refuses_a_different_request(
    stub: order_pb2_grpc.OrderServiceAsyncStub, world: World
) -> None:
    first = await stub.PlaceOrder(request(key="key-1"))
    again = await stub.PlaceOrder(request(key="key-1"))
    assert again.order == first.order and again.replayed and not first.replayed
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.PlaceOrder(request(quantity=5, key="key-1"))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    metadata = trailing(refused.value)
    assert metadata["orderflow-code"] == "IDEMPOTENCY_MISMATCH"
    assert metadata["orderflow-order-id"] == first.order.id
    assert len(world.payment.charged()) == 1 and world.inventory.stock["KB-MECH"] == 98


BAD_REQUESTS = {
    "no items": (order_pb2.PlaceOrderRequest(customer_id="c1", payment_token="tok_visa"), "items"),
    "quantity 0": (request(quantity=0), "items[0].quantity"),
    "negative quantity": (request(quantity=-2), "items[0].quantity"),
    "unknown token": (request(token="tok_amex"), "payment_token"),
    "no customer": (
        order_pb2.PlaceOrderRequest(items=request().items, payment_token="tok_visa"),
        "customer_id",
    ),
    "a SKU twice": (
        order_pb2.PlaceOrderRequest(
            customer_id="c1", items=[*request().items, *request().items], payment_token="tok_visa"
        ),
        "items[1].sku",
    ),
    "overlong key": (request(key="k" * 300), "idempotency_key"),
}


@pytest.mark.parametrize(("bad", "field"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
async def test_bad_input_is_invalid_argument_and_nothing_moves(
    stub: order_pb2_grpc.OrderServiceAsyncStub,
    world: World,
    bad: order_pb2.PlaceOrderRequest,
    field: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.PlaceOrder(bad)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert trailing(refused.value)["orderflow-field"] == field
    assert world.store.status_counts() == {}
    assert world.inventory.calls == [] and world.payment.calls == []


async def test_an_oversized_message_is_resource_exhausted_and_nothing_moves(
    stub: order_pb2_grpc.OrderServiceAsyncStub, world: World
) -> None:
    huge = request()
    huge.customer_id = "c" * (MAX_MESSAGE_BYTES + 1)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.PlaceOrder(huge)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert world.store.status_counts() == {} and world.inventory.calls == []
    assert (await stub.PlaceOrder(request())).order.status == Status.Value("CONFIRMED")


async def test_unknown_order_is_not_found(stub: order_pb2_grpc.OrderServiceAsyncStub) -> None:
    for call in (
        stub.GetOrder(order_pb2.GetOrderRequest(id="nope")),
        stub.WatchOrder(order_pb2.WatchOrderRequest(id="nope")).read(),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await call
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND


async def test_watch_streams_every_status_and_ends_after_the_terminal_one(
    stub: order_pb2_grpc.OrderServiceAsyncStub, world: World
) -> None:
    world.inventory.gate, world.inventory.waiting = asyncio.Event(), asyncio.Event()
    placing = asyncio.ensure_future(stub.PlaceOrder(request()))
    await world.inventory.waiting.wait()  # the order is recorded PENDING, held at the gate
    (pending,) = await world.handlers.list_orders("c1")
    watch = stub.WatchOrder(order_pb2.WatchOrderRequest(id=pending.id))
    seen = [await watch.read()]
    assert seen[0] != grpc.aio.EOF  # subscribed while the order waits, PENDING
    world.inventory.gate.set()
    while (update := await watch.read()) != grpc.aio.EOF:
        seen.append(update)
    statuses = [Status.Name(u.status) for u in seen if isinstance(u, order_pb2.Order)]
    assert statuses == ["PENDING", "RESERVED", "PAID", "CONFIRMED"]
    assert await watch.code() is grpc.StatusCode.OK
    assert (await placing).order.id == pending.id


async def test_watching_a_finished_order_sends_it_once(
    stub: order_pb2_grpc.OrderServiceAsyncStub,
) -> None:
    order = (await stub.PlaceOrder(request(token="tok_chargeDeclined"))).order
    seen = [u async for u in stub.WatchOrder(order_pb2.WatchOrderRequest(id=order.id))]
    assert seen == [order]
