"""The order service's gRPC clients against the real inventory and payment gRPC adapters
(in-process, real SQLite stores, real HTTP/2), and against peers that are down or silent."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from services._generated.orderflow.v1 import (
    inventory_pb2,
    inventory_pb2_grpc,
    payment_pb2,
    payment_pb2_grpc,
)
from services.inventory.api import grpc as inventory_grpc
from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore
from services.kernel import correlation
from services.kernel.config import Settings
from services.kernel.contracts import TOKEN_APPROVES, TOKEN_DECLINES, Line
from services.kernel.errors import DownstreamUnavailable
from services.kernel.telemetry import Telemetry
from services.order.domain import OrderLine
from services.order.downstream import grpc as downstream
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeStatus,
    RefusalReason,
    ReservationRefused,
)
from services.payment.api import grpc as payment_grpc
from services.payment.main import create_handlers
from services.payment.store import PaymentStore


@dataclass
class Clients:
    inventory: downstream.GrpcInventory
    payment: downstream.GrpcPayment
    telemetry: Telemetry

    def count(self, target: str, operation: str, outcome: str) -> float | None:
        return self.telemetry.registry.get_sample_value(
            "orderflow_downstream_calls_total",
            {"target": target, "operation": f"grpc.{operation}", "outcome": outcome},
        )


def settings_for(
    ports: dict[str, int], timeout_s: float = 5.0, host: str = "127.0.0.1"
) -> Settings:
    env = {f"ORDERFLOW_{s.upper()}_GRPC_PORT": str(p) for s, p in ports.items()}
    return Settings.from_env(
        {**env, "ORDERFLOW_HOST": host, "ORDERFLOW_CALL_TIMEOUT_S": str(timeout_s)}
    )


async def connect(settings: Settings, resources: AsyncExitStack) -> Clients:
    telemetry = Telemetry("order")
    inventory, payment = await downstream.connect(settings, telemetry, resources)
    return Clients(inventory, payment, telemetry)


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[Clients]:
    async with AsyncExitStack() as resources:
        yield await serve(tmp_path, "127.0.0.1", resources)


async def serve(tmp_path: Path, host: str, resources: AsyncExitStack) -> Clients:
    """Inventory and payment's gRPC servers on `host`, and order's clients connected to them."""
    stock = InventoryStore.open(tmp_path / "inventory.db")
    resources.callback(stock.close)
    stock.seed(SEED)
    payments = PaymentStore.open(tmp_path / "payment.db")
    resources.callback(payments.close)
    servers = {
        "inventory": inventory_grpc.create_server(
            InventoryHandlers(stock), host, 0, max_message_bytes=65536
        ),
        "payment": payment_grpc.create_server(
            create_handlers(payments, Telemetry("payment")),
            host,
            0,
            max_message_bytes=65536,
        ),
    }
    for server, _ in servers.values():
        await server.start()
        resources.push_async_callback(server.stop, None)
    ports = {name: port for name, (_, port) in servers.items()}
    return await connect(settings_for(ports, host=host), resources)


async def test_the_clients_reach_servers_at_an_ipv6_address(tmp_path: Path) -> None:
    # An IPv6 literal must stand in brackets before ":port" in a gRPC target (or it reads as
    # more address), on the server's side and on the client's.
    async with AsyncExitStack() as resources:
        clients = await serve(tmp_path, "::1", resources)
        priced = await clients.inventory.reserve("o9", (Line("KB-MECH", 1),))
        charged = await clients.payment.charge("o9", "c1", 8999, TOKEN_APPROVES)
    assert priced == (OrderLine("KB-MECH", 1, 8999),)
    assert charged.status is ChargeStatus.CHARGED


async def test_reserve_is_priced_by_the_catalog_and_release_gives_it_back(
    clients: Clients,
) -> None:
    lines = (Line("KB-MECH", 2), Line("CABLE-USBC", 1))
    priced = await clients.inventory.reserve("o1", lines)
    assert priced == (OrderLine("KB-MECH", 2, 8999), OrderLine("CABLE-USBC", 1, 999))
    assert await clients.inventory.reserve("o1", lines) == priced  # idempotent per order
    await clients.inventory.release("o1")
    await clients.inventory.release("o1")
    assert clients.count("inventory", "reserve", "ok") == 2
    assert clients.count("inventory", "release", "ok") == 2


@pytest.mark.parametrize(
    ("sku", "reason"),
    [("MUG-RETIRED", RefusalReason.OUT_OF_STOCK), ("NOPE", RefusalReason.UNKNOWN_SKU)],
)
async def test_refusals_are_typed(clients: Clients, sku: str, reason: RefusalReason) -> None:
    with pytest.raises(ReservationRefused) as refused:
        await clients.inventory.reserve("o2", (Line(sku, 1),))
    assert refused.value.reason is reason and sku in str(refused.value)
    assert clients.count("inventory", "reserve", "refused") == 1


async def test_a_refusal_it_does_not_understand_is_an_unknown_outcome(clients: Clients) -> None:
    await clients.inventory.release("o3")
    with pytest.raises(DownstreamUnavailable) as failed:
        await clients.inventory.reserve("o3", (Line("KB-MECH", 1),))
    assert failed.value.cause == "FAILED_PRECONDITION RESERVATION_RELEASED"


async def test_charge_decline_refund_and_void(clients: Clients) -> None:
    charged = await clients.payment.charge("o4", "c1", 1999, TOKEN_APPROVES)
    declined = await clients.payment.charge("o5", "c1", 1999, TOKEN_DECLINES)
    assert (charged.status, declined.status) == (ChargeStatus.CHARGED, ChargeStatus.DECLINED)
    await clients.payment.refund("o4")
    assert (await clients.payment.charge("o4", "c1", 1999, TOKEN_APPROVES)).status is (
        ChargeStatus.REFUNDED
    )
    await clients.payment.refund("o6")  # before its charge: voids it
    with pytest.raises(ChargeRefused):
        await clients.payment.charge("o6", "c1", 1999, TOKEN_APPROVES)
    assert clients.count("payment", "charge", "ok") == 3
    assert clients.count("payment", "charge", "refused") == 1


class Recorder(logging.Filter):
    """Notes the correlation id each log record of the inventory handlers was written under."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str | None] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen.append(correlation.current())
        return True


@pytest.fixture
def inventory_log() -> Iterator[Recorder]:
    recorder = Recorder()
    logger = logging.getLogger("services.inventory.handlers")
    logger.addFilter(recorder)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield recorder
    logger.setLevel(level)
    logger.removeFilter(recorder)


async def test_the_correlation_id_travels_to_the_other_service(
    clients: Clients, inventory_log: Recorder
) -> None:
    correlation.begin("corr-99")
    await clients.inventory.reserve("o7", (Line("KB-MECH", 1),))
    assert inventory_log.seen == ["corr-99"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_service_is_an_unknown_outcome() -> None:
    async with AsyncExitStack() as resources:
        clients = await connect(settings_for({"payment": free_port()}), resources)
        with pytest.raises(DownstreamUnavailable) as failed:
            await clients.payment.charge("o8", "c1", 1999, TOKEN_APPROVES)
    assert (failed.value.service, failed.value.operation) == ("payment", "charge")
    assert failed.value.cause.startswith("UNAVAILABLE")
    assert clients.count("payment", "charge", "unreachable") == 1


async def test_a_silent_service_times_out_at_the_deadline() -> None:
    """A peer that accepts connections and never answers, as a hung process would."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    async with silent, AsyncExitStack() as resources:
        clients = await connect(settings_for({"inventory": port}, timeout_s=0.3), resources)
        with pytest.raises(DownstreamUnavailable) as failed:
            await clients.inventory.release("o9")
        for writer in held:
            writer.close()
    assert failed.value.cause == "no answer within 0.3s"
    assert clients.count("inventory", "release", "timeout") == 1


async def test_a_service_that_comes_back_is_reached_again_within_seconds(tmp_path: Path) -> None:
    """A restarted service is reached again on the same channel, without restarting order."""
    store = PaymentStore.open(tmp_path / "payment.db")
    handlers = create_handlers(store, Telemetry("payment"))
    port = free_port()
    async with AsyncExitStack() as resources:
        resources.callback(store.close)
        clients = await connect(settings_for({"payment": port}, timeout_s=2.0), resources)
        for _ in range(DOWN_ATTEMPTS):  # down for a while: each attempt lengthens the backoff
            with pytest.raises(DownstreamUnavailable):
                await clients.payment.refund("o10")
            await asyncio.sleep(0.5)
        server, _ = payment_grpc.create_server(handlers, "127.0.0.1", port, max_message_bytes=1024)
        await server.start()
        resources.push_async_callback(server.stop, None)
        started = time.monotonic()
        while True:
            try:
                await clients.payment.refund("o10")
                break
            except DownstreamUnavailable:
                assert time.monotonic() - started < 2, "still unreachable 2 s after it came back"
                await asyncio.sleep(0.05)
        assert store.summary()["VOIDED"] == 1


DOWN_ATTEMPTS = 3


class OddInventory(inventory_pb2_grpc.InventoryServiceServicer):
    async def Reserve(
        self, request: inventory_pb2.ReserveRequest, context: Any
    ) -> inventory_pb2.ReserveResponse:
        return inventory_pb2.ReserveResponse()  # neither reserved nor refused


class OddPayment(payment_pb2_grpc.PaymentServiceServicer):
    async def Charge(
        self, request: payment_pb2.ChargeRequest, context: Any
    ) -> payment_pb2.ChargeResponse:
        # A status number these protos do not name (a newer server's), as proto3 enums allow.
        return payment_pb2.ChargeResponse(payment=payment_pb2.Payment(status=99))  # type: ignore[arg-type]


async def test_an_answer_without_a_known_outcome_is_unknown_and_counted_unreadable() -> None:
    server = grpc.aio.server()
    # Fakes of the two methods called here; the others are never reached.
    inventory_pb2_grpc.add_InventoryServiceServicer_to_server(OddInventory(), server)  # type: ignore[abstract]
    payment_pb2_grpc.add_PaymentServiceServicer_to_server(OddPayment(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with AsyncExitStack() as resources:
            clients = await connect(settings_for({"inventory": port, "payment": port}), resources)
            with pytest.raises(DownstreamUnavailable, match="unreadable answer"):
                await clients.inventory.reserve("o1", (Line("KB-MECH", 1),))
            with pytest.raises(DownstreamUnavailable, match="unreadable answer"):
                await clients.payment.charge("o1", "c1", 1999, TOKEN_APPROVES)
    finally:
        await server.stop(None)
    for target, operation in (("inventory", "reserve"), ("payment", "charge")):
        assert clients.count(target, operation, "unreadable") == 1
        assert clients.count(target, operation, "ok") is None
