"""Request messages that do not decode, sent over a raw channel to each service's gRPC server:
INVALID_ARGUMENT every time, one short log line for all of them, and the service serves on."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from services.inventory.api.grpc import create_server as inventory_server
from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore
from services.kernel.grpc import decoding, errors
from services.kernel.grpc.server import GrpcServer
from services.kernel.telemetry import Telemetry
from services.order.api.grpc import create_server as order_server
from services.payment.api.grpc import create_server as payment_server
from services.payment.main import create_handlers
from services.payment.store import PaymentStore
from tests.integration.test_grpc_order import World

LIMIT = 4096
# Every method of ours takes a message whose field 1 is a string (an id, a SKU, a customer id).
GARBAGE = {
    "truncated": b"\x0a\x05ab",  # field 1 says 5 bytes, 2 follow
    "invalid UTF-8 in a string": b"\x0a\x03a\xffc",
    "not protobuf": b"\xff\xff\xff\xff",
    "length past the end": b"\x0a\xff\xff\xff\xff\x0f",
}
COMMON_UNARY = ("/grpc.health.v1.Health/Check",)
COMMON_STREAMING = ("/grpc.health.v1.Health/Watch",)
REFLECTION = (
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
)


@dataclass(frozen=True)
class Target:
    unary: tuple[str, ...]
    streaming: tuple[str, ...]
    start: Callable[[Path, AsyncExitStack], tuple[GrpcServer, int]]


def start_order(tmp_path: Path, stack: AsyncExitStack) -> tuple[GrpcServer, int]:
    world = World(tmp_path / "order.db")
    stack.callback(world.store.close)
    return order_server(world.handlers, "127.0.0.1", 0, max_message_bytes=LIMIT)


def start_inventory(tmp_path: Path, stack: AsyncExitStack) -> tuple[GrpcServer, int]:
    store = InventoryStore.open(tmp_path / "inventory.db")
    store.seed(SEED)
    stack.callback(store.close)
    return inventory_server(InventoryHandlers(store), "127.0.0.1", 0, max_message_bytes=LIMIT)


def start_payment(tmp_path: Path, stack: AsyncExitStack) -> tuple[GrpcServer, int]:
    store = PaymentStore.open(tmp_path / "payment.db")
    stack.callback(store.close)
    handlers = create_handlers(store, Telemetry("payment"))
    return payment_server(handlers, "127.0.0.1", 0, max_message_bytes=LIMIT)


TARGETS = {
    "order": Target(
        ("/orderflow.v1.OrderService/PlaceOrder", "/orderflow.v1.OrderService/GetOrder"),
        ("/orderflow.v1.OrderService/WatchOrder",),
        start_order,
    ),
    "inventory": Target(
        (
            "/orderflow.v1.InventoryService/GetProduct",
            "/orderflow.v1.InventoryService/Reserve",
            "/orderflow.v1.InventoryService/Release",
        ),
        (),
        start_inventory,
    ),
    "payment": Target(
        ("/orderflow.v1.PaymentService/Charge", "/orderflow.v1.PaymentService/Refund"),
        (),
        start_payment,
    ),
}


@pytest.fixture(params=sorted(TARGETS))
async def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Target, grpc.aio.Channel]]:
    target = TARGETS[request.param]
    async with AsyncExitStack() as stack:
        server, port = target.start(tmp_path, stack)
        await server.start()
        stack.push_async_callback(server.stop, None)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        stack.push_async_callback(channel.close)
        yield target, channel


def refusal(failed: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, object]:
    return failed.code(), dict(failed.trailing_metadata() or ()).get(errors.CODE_KEY)


async def unary(channel: grpc.aio.Channel, method: str, raw: bytes) -> grpc.aio.AioRpcError:
    call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call(raw)
    return failed.value


async def streaming(channel: grpc.aio.Channel, method: str, raw: bytes) -> grpc.aio.AioRpcError:
    call: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(method)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        async for _ in call(raw):
            pass
    return failed.value


async def bidirectional(channel: grpc.aio.Channel, method: str, raw: bytes) -> grpc.aio.AioRpcError:
    call: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(method)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        async for _ in call(iter([raw])):
            pass
    return failed.value


async def test_undecodable_requests_are_invalid_argument_with_one_short_log_line(
    served: tuple[Target, grpc.aio.Channel],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, channel = served
    monkeypatch.setattr(decoding, "_undecodable_log", decoding.Throttled(60.0))
    calls = [
        *((unary, m) for m in (*target.unary, *COMMON_UNARY)),
        *((streaming, m) for m in (*target.streaming, *COMMON_STREAMING)),
        *((bidirectional, m) for m in REFLECTION),
    ]
    with caplog.at_level(logging.INFO):
        for call, method in calls:
            for shape, raw in GARBAGE.items():
                failed = await call(channel, method, raw)
                assert refusal(failed) == (grpc.StatusCode.INVALID_ARGUMENT, decoding.CODE), (
                    method,
                    shape,
                )
                assert "cannot be decoded" in (failed.details() or "")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text
    lines = [r.getMessage() for r in caplog.records if r.name == decoding.log.name]
    assert len(lines) == 1 and lines[0].startswith("undecodable request to /")
    # The server serves on.
    check = health_pb2.HealthCheckRequest(service="").SerializeToString()
    health: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(COMMON_UNARY[0])
    answer = health_pb2.HealthCheckResponse.FromString(await health(check))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
