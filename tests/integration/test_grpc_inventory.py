"""The inventory gRPC adapter in-process over real HTTP/2, on a real seeded SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeAlias

import grpc
import pytest

from services._generated.orderflow.v1 import common_pb2, inventory_pb2, inventory_pb2_grpc
from services.inventory.api.grpc import create_server
from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore

# Type-checking only: the stub over a grpc.aio channel.
Stub: TypeAlias = "inventory_pb2_grpc.InventoryServiceAsyncStub"


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[Stub]:
    store = InventoryStore.open(tmp_path / "inventory.db")
    store.seed(SEED)
    server, port = create_server(InventoryHandlers(store), "127.0.0.1", 0, max_message_bytes=2048)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield inventory_pb2_grpc.InventoryServiceStub(channel)
    finally:
        await server.stop(None)
        store.close()


def reserve(order_id: str, **lines: int) -> inventory_pb2.ReserveRequest:
    items = [common_pb2.LineItem(sku=sku, quantity=qty) for sku, qty in lines.items()]
    return inventory_pb2.ReserveRequest(order_id=order_id, items=items)


async def available(stub: Stub, sku: str) -> int:
    return (await stub.GetProduct(inventory_pb2.GetProductRequest(sku=sku))).available


async def test_catalog(stub: Stub) -> None:
    listed = (await stub.ListProducts(inventory_pb2.ListProductsRequest())).products
    assert sorted((p.sku, p.name, p.price_cents, p.available) for p in listed) == sorted(
        (p.sku, p.name, p.price_cents, p.available) for p in SEED
    )
    product = await stub.GetProduct(inventory_pb2.GetProductRequest(sku="KB-MECH"))
    assert (product.name, product.price_cents) == ("Mechanical keyboard", 8999)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetProduct(inventory_pb2.GetProductRequest(sku="NOPE"))
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND


async def test_reserve_prices_from_the_catalog_replays_and_releases(stub: Stub) -> None:
    before = await available(stub, "KB-MECH")
    first = await stub.Reserve(reserve("o1", **{"KB-MECH": 2, "CABLE-USBC": 1}))
    assert first.WhichOneof("outcome") == "reserved" and not first.replayed
    reserved = first.reserved
    assert (reserved.order_id, reserved.total_cents) == ("o1", 2 * 8999 + 999)
    assert inventory_pb2.Reservation.Status.Name(reserved.status) == "RESERVED"
    assert [(i.sku, i.quantity, i.unit_price_cents) for i in reserved.items] == [
        ("KB-MECH", 2, 8999),
        ("CABLE-USBC", 1, 999),
    ]
    again = await stub.Reserve(reserve("o1", **{"KB-MECH": 2, "CABLE-USBC": 1}))
    assert again.replayed and again.reserved == reserved
    assert await available(stub, "KB-MECH") == before - 2
    released = await stub.Release(inventory_pb2.ReleaseRequest(order_id="o1"))
    assert inventory_pb2.Reservation.Status.Name(released.status) == "RELEASED"
    assert await available(stub, "KB-MECH") == before


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ({"KB-MECH": 1, "MUG-RETIRED": 1}, "OUT_OF_STOCK"),
        ({"KB-MECH": 1, "NOPE": 1}, "UNKNOWN_SKU"),
    ],
)
async def test_refusals_are_answers_that_reserve_nothing(
    stub: Stub, lines: dict[str, int], reason: str
) -> None:
    before = await available(stub, "KB-MECH")
    answer = await stub.Reserve(reserve("o2", **lines))
    assert answer.WhichOneof("outcome") == "refused"
    assert inventory_pb2.Refusal.Reason.Name(answer.refused.reason) == reason
    assert answer.refused.detail
    assert await available(stub, "KB-MECH") == before


async def test_conflicts_are_failed_precondition(stub: Stub) -> None:
    await stub.Release(inventory_pb2.ReleaseRequest(order_id="late"))  # before the reservation
    await stub.Reserve(reserve("o3", **{"KB-MECH": 1}))
    cases = {"late": reserve("late", **{"KB-MECH": 1}), "o3": reserve("o3", **{"KB-MECH": 3})}
    codes = []
    for request in cases.values():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Reserve(request)
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        codes.append(dict(refused.value.trailing_metadata() or ())["orderflow-code"])
    assert codes == ["RESERVATION_RELEASED", "IDEMPOTENCY_MISMATCH"]


@pytest.mark.parametrize(
    "request_",
    [reserve("o4"), reserve("o4", **{"KB-MECH": 0}), reserve("", **{"KB-MECH": 1})],
    ids=["no items", "quantity 0", "no order id"],
)
async def test_bad_input_is_invalid_argument(
    stub: Stub, request_: inventory_pb2.ReserveRequest
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Reserve(request_)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
