"""W3C trace context across each kind of hop, with the real transports: HTTP (aiohttp client →
FastAPI), gRPC (grpc.aio), JSON-RPC over a WebSocket, and AMQP (a transaction writes an outbox
row; the relay publishes it later; a consumer handles it on RabbitMQ). On each, the receiving
side's span must be in the caller's trace, a child of the caller's span for the hop."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pika.exceptions
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from harness.rabbit.admin import channel, delete_topology
from services._generated.orderflow.v1 import inventory_pb2, inventory_pb2_grpc
from services.inventory.api.grpc import create_server
from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore
from services.kernel import tracing
from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import EventConsumer
from services.kernel.broker.events import CloudEvent, new_event
from services.kernel.broker.link import BrokerLink
from services.kernel.broker.outbox import OutboxRelay
from services.kernel.broker.topology import Topology
from services.kernel.config import ServiceAddress
from services.kernel.grpc.client import open_caller
from services.kernel.http.app import create_http_app
from services.kernel.http.client import JsonClient
from services.kernel.jsonrpc.client import RpcClient
from services.kernel.jsonrpc.dispatcher import Peer
from services.kernel.jsonrpc.params import Params
from services.kernel.jsonrpc.server import serve
from services.kernel.telemetry import Telemetry
from tests.e2e.graphql_client import serving
from tests.tracing_fixture import spans

__all__ = ["spans"]  # the fixture

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def caller() -> contextlib.AbstractContextManager[trace.Span]:
    return trace.get_tracer("test").start_as_current_span("caller")


def one(spans: InMemorySpanExporter, kind: SpanKind, name: str) -> ReadableSpan:
    found = [s for s in spans.get_finished_spans() if s.kind is kind and s.name == name]
    names = [(s.kind.name, s.name) for s in spans.get_finished_spans()]
    assert len(found) == 1, f"one {kind.name} span {name!r} wanted among {names}"
    return found[0]


def assert_child(child: ReadableSpan, parent: ReadableSpan | trace.Span) -> None:
    expected = parent.get_span_context()
    assert expected is not None
    assert child.context is not None and child.parent is not None, child.name
    assert child.context.trace_id == expected.trace_id
    assert child.parent.span_id == expected.span_id


def echo_app() -> FastAPI:
    """A service's HTTP app (create_http_app) with one route that answers its trace id."""
    router = APIRouter()

    @router.get("/echo")
    async def echo() -> dict[str, str | None]:
        return {"trace": tracing.trace_id()}

    async def ready() -> dict[str, bool]:
        return {}

    return create_http_app(
        title="t",
        description="t",
        routers=[router],
        telemetry=Telemetry("t"),
        readiness=ready,
        max_body_bytes=1024,
    )


async def test_http_the_server_span_is_a_child_of_the_clients(
    spans: InMemorySpanExporter,
) -> None:
    async with serving(echo_app()) as url:
        client = JsonClient("peer", url, 5.0, Telemetry("t"))
        try:
            with caller() as root:
                reply = await client.call("echo", "GET", "/echo")
        finally:
            await client.aclose()
    assert reply.json()["trace"] == format(root.get_span_context().trace_id, "032x")
    sent = one(spans, SpanKind.CLIENT, "GET")
    assert_child(sent, root)
    server = one(spans, SpanKind.SERVER, "GET /echo")
    assert_child(server, sent)
    # FastAPI's own telemetry adds nothing beside the project's instrumentation (no spans for
    # dependency resolution, the endpoint or serialization).
    assert [s.name for s in spans.get_finished_spans() if s.parent == server.context] == []


async def test_http_with_tracing_off_a_request_makes_no_span_even_with_a_provider_set(
    spans: InMemorySpanExporter,
) -> None:
    # The provider stays installed: FastAPI's own telemetry, left on, would trace every
    # request from it. Whether a service traces is the project's switch (ORDERFLOW's tracing
    # settings) alone, and a request costs no tracing work when it is off.
    tracing.turn_off()
    async with serving(echo_app()) as url:
        client = JsonClient("peer", url, 5.0, Telemetry("t"))
        try:
            reply = await client.call("echo", "GET", "/echo")
        finally:
            await client.aclose()
    assert reply.json()["trace"] is None
    assert [s.name for s in spans.get_finished_spans()] == []


async def test_grpc_the_server_span_is_a_child_of_the_clients(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    store = InventoryStore.open(tmp_path / "inventory.db")
    store.seed(SEED)
    server, port = create_server(InventoryHandlers(store), "127.0.0.1", 0, max_message_bytes=1024)
    await server.start()
    try:
        async with contextlib.AsyncExitStack() as resources:
            address = ServiceAddress("inventory", "127.0.0.1", 0, port)
            grpc_caller = open_caller(address, 5.0, Telemetry("t"), resources)
            stub = inventory_pb2_grpc.InventoryServiceStub(grpc_caller.channel)
            with caller() as root:
                request = inventory_pb2.ListProductsRequest()
                await grpc_caller.call("list", stub.ListProducts, request, lambda answer: answer)
    finally:
        await server.stop(None)
        store.close()
    name = "/orderflow.v1.InventoryService/ListProducts"
    sent = one(spans, SpanKind.CLIENT, name)
    assert_child(sent, root)
    assert_child(one(spans, SpanKind.SERVER, name), sent)


@contextlib.asynccontextmanager
async def jsonrpc_server() -> AsyncIterator[str]:
    async def echo(params: Params, peer: Peer) -> object:
        return {"trace": tracing.trace_id()}

    async def endpoint(websocket: WebSocket) -> None:
        await serve(websocket, {"echo": echo})

    async with serving(Starlette(routes=[WebSocketRoute("/ws", endpoint)])) as url:
        yield url.replace("http://", "ws://") + "/ws"


async def test_jsonrpc_the_request_span_is_a_child_of_the_callers(
    spans: InMemorySpanExporter,
) -> None:
    async with jsonrpc_server() as url:
        client = RpcClient("peer", url, 5.0, Telemetry("t"))
        try:
            with caller() as root:
                result = await client.call("echo", {})
        finally:
            await client.aclose()
    assert result == {"trace": format(root.get_span_context().trace_id, "032x")}
    sent = one(spans, SpanKind.CLIENT, "jsonrpc echo")
    assert_child(sent, root)
    assert_child(one(spans, SpanKind.SERVER, "jsonrpc echo"), sent)


@pytest.fixture
def topology() -> Iterator[Topology]:
    try:
        with channel(URL):
            pass
    except pika.exceptions.AMQPConnectionError:
        pytest.fail(f"these tests need RabbitMQ at {URL} (guest/guest); it does not answer")
    made = Topology(f"it-{uuid.uuid4().hex[:10]}")
    yield made
    delete_topology(URL, made)


async def test_amqp_a_late_relayed_event_stays_in_the_trace_that_wrote_it(
    spans: InMemorySpanExporter, topology: Topology, tmp_path: Path
) -> None:
    """The transaction writes the outbox row; the relay only starts after the writer's span
    has ended (as after a broker outage): its publish is still a child of the writer's span,
    and the consumer's span a child of the context the event carries."""
    store = InventoryStore.open(tmp_path / "inventory.db")
    with caller() as writer, store.transaction():
        event = new_event(ev.INVENTORY_RESERVED, "orderflow/inventory", {}, "corr-1")
        store.messages.emit(event)
    handled: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    async def use_case(received: CloudEvent) -> None:
        handled.set_result(tracing.trace_id())

    consumer = EventConsumer("payment", topology, {ev.INVENTORY_RESERVED: use_case}, Telemetry("t"))
    link = BrokerLink(
        URL, topology, Telemetry("t"), consume=topology.queue("payment"), on_delivery=consumer
    )
    consumer.attach(link)
    relay = asyncio.create_task(OutboxRelay(store.messages, link, topology).run())
    running = asyncio.create_task(link.run())
    try:
        trace_id = await asyncio.wait_for(handled, 15)
    finally:
        for task in (relay, running):
            task.cancel()
        await asyncio.gather(relay, running, return_exceptions=True)
        store.close()
    assert trace_id == format(writer.get_span_context().trace_id, "032x")
    assert_child(one(spans, SpanKind.PRODUCER, "publish inventory.reserved"), writer)
    assert_child(one(spans, SpanKind.CONSUMER, "process inventory.reserved"), writer)
