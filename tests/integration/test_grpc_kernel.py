"""What every gRPC server has: health checking, reflection, correlation ids, a safe INTERNAL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services._generated.orderflow.v1 import inventory_pb2, inventory_pb2_grpc
from services.inventory.api.grpc import create_server
from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore
from services.kernel.grpc.server import create_server as create_kernel_server


@pytest.fixture
def store(tmp_path: Path) -> InventoryStore:
    opened = InventoryStore.open(tmp_path / "inventory.db")
    opened.seed(SEED)
    return opened


@pytest.fixture
async def channel(store: InventoryStore) -> AsyncIterator[grpc.aio.Channel]:
    server, port = create_server(InventoryHandlers(store), "127.0.0.1", 0, max_message_bytes=1024)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as opened:
            yield opened
    finally:
        await server.stop(None)
        store.close()


async def test_health_turns_not_serving_when_the_server_begins_to_stop(
    store: InventoryStore,
) -> None:
    server, port = create_server(InventoryHandlers(store), "127.0.0.1", 0, max_message_bytes=1024)
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as opened:
        watch = health_pb2_grpc.HealthStub(opened).Watch(
            health_pb2.HealthCheckRequest(service="orderflow.v1.InventoryService")
        )
        first = await watch.read()
        stopping = asyncio.create_task(server.stop(2.0))
        second = await watch.read()
        await stopping
    store.close()
    assert (first.status, second.status) == (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )


@pytest.mark.parametrize("service", ["", "orderflow.v1.InventoryService"])
async def test_health_is_serving(channel: grpc.aio.Channel, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    answer = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_and_describes_the_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="orderflow.v1.InventoryService"
        ),
    ]
    listed, described = [answer async for answer in stub.ServerReflectionInfo(iter(requests))]
    names = {s.name for s in listed.list_services_response.service}
    assert names == {
        "orderflow.v1.InventoryService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert described.file_descriptor_response.file_descriptor_proto  # grpcurl needs no .proto


def spec_request(field: int, text: str) -> bytes:
    """A ServerReflectionRequest with one string field, encoded from the published proto."""
    data = text.encode()
    assert len(data) < 128  # one-byte length
    return bytes([field << 3 | 2, len(data)]) + data


async def test_reflection_v1_lists_and_describes_the_services(channel: grpc.aio.Channel) -> None:
    """A v1 client (newer grpcurl asks v1 first), its requests encoded from the v1 proto."""
    info: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
    )
    requests = [
        spec_request(7, ""),  # list_services
        spec_request(4, "orderflow.v1.InventoryService"),  # file_containing_symbol
        spec_request(4, "grpc.reflection.v1.ServerReflection"),
    ]
    raw = [answer async for answer in info(iter(requests))]
    # The v1 response has v1alpha's fields and numbers, so v1alpha's class reads it.
    listed, described, itself = map(reflection_pb2.ServerReflectionResponse.FromString, raw)
    assert {s.name for s in listed.list_services_response.service} == {
        "orderflow.v1.InventoryService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    packages = {
        descriptor_pb2.FileDescriptorProto.FromString(file).package
        for answer in (described, itself)
        for file in answer.file_descriptor_response.file_descriptor_proto
    }
    assert {"orderflow.v1", "grpc.reflection.v1"} <= packages


async def test_the_callers_correlation_id_is_adopted(channel: grpc.aio.Channel) -> None:
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    call = stub.ListProducts(
        inventory_pb2.ListProductsRequest(), metadata=(("x-correlation-id", "corr-42"),)
    )
    await call
    assert dict(await call.trailing_metadata() or ())["x-correlation-id"] == "corr-42"


async def test_an_unexpected_failure_is_internal_without_its_insides(
    channel: grpc.aio.Channel, store: InventoryStore
) -> None:
    store.close()  # the database is gone: a failure no handler expects
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.ListProducts(inventory_pb2.ListProductsRequest())
    assert failed.value.code() is grpc.StatusCode.INTERNAL
    assert failed.value.details() == "an unexpected error occurred; see the service log"
    assert dict(failed.value.trailing_metadata() or ())["orderflow-code"] == "INTERNAL_ERROR"


async def test_streams_beyond_a_connections_limit_wait_for_one_to_end() -> None:
    """The server advertises its limit of concurrent streams per connection (HTTP/2's
    SETTINGS_MAX_CONCURRENT_STREAMS): gRPC's own client holds a call beyond it until a stream
    ends, instead of the server opening one stream (a task) per call without end."""
    server, port = create_kernel_server(
        [], "127.0.0.1", 0, max_message_bytes=1024, max_concurrent_streams=2
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as opened:
            health = health_pb2_grpc.HealthStub(opened)
            request = health_pb2.HealthCheckRequest(service="")
            held = [health.Watch(request) for _ in range(2)]
            for watch in held:  # open: each has its first answer
                assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            third = health.Watch(request)
            waiting = asyncio.ensure_future(third.read())
            done, _ = await asyncio.wait([waiting], timeout=1.0)
            assert not done  # no stream for it while two are open
            held[0].cancel()
            first = await asyncio.wait_for(waiting, timeout=5.0)
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            for watch in (held[1], third):
                watch.cancel()
    finally:
        await server.stop(None)
