"""One order = one trace, in every style, through the real stack.

The services export their spans with the OTLP JSON file exporter (`ORDERFLOW_TRACES_FILE`, one
file per service). Each client here starts the trace itself, as an instrumented client would:
it sends a W3C `traceparent` of its own (a header, gRPC metadata, JSON-RPC `_meta`, or the
CloudEvents `traceparent` attribute of a command written by hand and published with plain pika).
Every span of the order must then be in that trace, in every service the order crossed.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from cloudevents.core.bindings import amqp as sdk_amqp
from cloudevents.core.bindings import rabbitmq as sdk_rabbitmq
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from harness.clients.documents import PLACE_ORDER
from harness.rabbit import admin as rabbit_admin
from harness.stack.supervisor import Stack
from harness.traces.spans import Span, read_folder
from services._generated.orderflow.v1 import order_pb2, order_pb2_grpc
from tests.e2e import broker_helpers
from tests.e2e.conftest import remove_topology, start_stack
from tests.e2e.graphql_client import place_input
from tests.e2e.grpc_client import channel, place_request
from tests.e2e.rest_client import order_body
from tests.e2e.ws_client import place_params, rpc_socket

EVERY_SERVICE = {"order", "inventory", "payment", "notification"}


@dataclass(frozen=True)
class Traced:
    stack: Stack
    spans_dir: Path


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    root = tmp_path_factory.mktemp("traced")
    spans_dir = root / "spans"
    running = start_stack(
        root / "stack",
        ORDERFLOW_TRACES_FILE=str(spans_dir / "{service}.jsonl"),
        OTEL_BSP_SCHEDULE_DELAY="100",  # the SDK's own variable: export within 0.1 s
    )
    with running:
        yield Traced(running, spans_dir)
    remove_topology(running)


def client_context() -> tuple[str, str, str]:
    """A client's own span: (trace id, span id, its W3C traceparent)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def read_spans(spans_dir: Path) -> list[Span]:
    """Every span the services exported so far, read as `orderflow trace` reads them (a line
    still being written is left for the next reading); none before the first export."""
    return read_folder(spans_dir) if spans_dir.is_dir() else []


def spans_of(
    traced: Traced, trace_id: str, services: set[str], names: set[str], client_span: str
) -> list[Span]:
    """The trace's spans once every service and every named span is in, and every span's parent
    too: each process exports in batches of its own, so a child can be in before its parent."""
    deadline = time.monotonic() + 20
    while True:
        spans = [s for s in read_spans(traced.spans_dir) if s.trace_id == trace_id]
        have = {s.service for s in spans}, {s.name for s in spans}
        whole = not orphans_of(spans, client_span)
        if (services <= have[0] and names <= have[1] and whole) or time.monotonic() > deadline:
            assert have[0] >= services, f"services in the trace: {sorted(have[0])}"
            assert have[1] >= names, f"spans in the trace: {sorted(have[1])}"
            return spans
        time.sleep(0.2)


def orphans_of(spans: list[Span], client_span: str) -> list[Span]:
    """The spans whose parent is neither in the trace nor the client's span."""
    known = {s.span_id for s in spans} | {client_span}
    return [s for s in spans if s.parent_id not in known]


def assert_one_tree(spans: list[Span], client_span: str) -> None:
    """Every span hangs from the client's span: its parent is in the trace, or is the client."""
    orphans = orphans_of(spans, client_span)
    assert not orphans, f"spans whose parent is not in the order's trace: {orphans}"


def test_a_rest_order_is_one_trace(traced: Traced) -> None:
    trace_id, span_id, traceparent = client_context()
    answer = httpx.post(
        f"{traced.stack.url('order')}/orders",
        json=order_body({"KB-MECH": 1}),
        headers={"traceparent": traceparent},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "CONFIRMED"
    names = {"saga reserve", "saga charge", "notify"}  # the charge step confirms too
    # A span per store transaction, in each service the order changed, named by what it does;
    # the charge and its confirmation are saved in one.
    names |= {"transaction order.place", "transaction order.charge+confirm"}
    names |= {"transaction inventory.reserve", "transaction payment.charge"}
    names |= {"transaction notification.record"}
    assert_one_tree(spans_of(traced, trace_id, EVERY_SERVICE, names, span_id), span_id)


def test_a_compensated_order_is_one_trace_with_its_compensation(traced: Traced) -> None:
    trace_id, span_id, traceparent = client_context()
    answer = httpx.post(
        f"{traced.stack.url('order')}/orders",
        json=order_body({"KB-MECH": 1}, token="tok_chargeDeclined"),
        headers={"traceparent": traceparent},
        timeout=30,
    )
    assert answer.json()["status"] == "CANCELLED", answer.text
    spans = spans_of(traced, trace_id, EVERY_SERVICE, {"saga compensate", "notify"}, span_id)
    released = [s for s in spans if s.service == "inventory" and "release" in s.name]
    assert released, f"no release in the trace: {sorted((s.service, s.name) for s in spans)}"
    assert_one_tree(spans, span_id)


def test_a_grpc_order_is_one_trace(traced: Traced) -> None:
    trace_id, span_id, traceparent = client_context()
    with channel(traced.stack, "order") as opened:
        stub = order_pb2_grpc.OrderServiceStub(opened)
        order = stub.PlaceOrder(
            place_request({"KB-MECH": 1}), metadata=(("traceparent", traceparent),), timeout=30
        )
    assert order.order.status == order_pb2.Order.CONFIRMED
    names = {"/orderflow.v1.OrderService/PlaceOrder", "saga charge", "notify"}
    spans = spans_of(traced, trace_id, EVERY_SERVICE, names, span_id)
    assert {s.name for s in spans if s.service == "inventory"} >= {
        "/orderflow.v1.InventoryService/Reserve"
    }
    assert_one_tree(spans, span_id)


def test_a_graphql_order_is_one_trace(traced: Traced) -> None:
    trace_id, span_id, traceparent = client_context()
    answer = httpx.post(
        f"{traced.stack.url('order')}/graphql",
        json={"query": PLACE_ORDER, "variables": {"input": place_input({"KB-MECH": 1}, "gq")}},
        headers={"traceparent": traceparent},
        timeout=30,
    )
    assert answer.json()["data"]["placeOrder"]["status"] == "CONFIRMED", answer.text
    spans = spans_of(traced, trace_id, EVERY_SERVICE, {"saga charge", "notify"}, span_id)
    assert_one_tree(spans, span_id)


def test_a_websocket_order_is_one_trace(traced: Traced) -> None:
    trace_id, span_id, traceparent = client_context()
    params = place_params({"KB-MECH": 1}, _meta={"traceparent": traceparent})
    with rpc_socket(traced.stack) as socket:
        exchange = socket.call("place_order", params)
    assert exchange.response["result"]["status"] == "CONFIRMED", exchange.response
    names = {"jsonrpc place_order", "jsonrpc reserve", "jsonrpc charge", "notify"}
    spans = spans_of(traced, trace_id, EVERY_SERVICE, names, span_id)
    # The client's request is the parent of the order service's span for it.
    (served,) = [s for s in spans if s.service == "order" and s.name == "jsonrpc place_order"]
    assert served.parent_id == span_id
    assert_one_tree(spans, span_id)


def test_a_broker_order_from_a_foreign_producer_is_one_trace(traced: Traced) -> None:
    """A command written by hand from the CloudEvents spec (structured mode, the Distributed
    Tracing extension's `traceparent`), published with plain pika: the order service's span
    for it is a child of the producer's span, and every event of the saga is in its trace."""
    trace_id, span_id, traceparent = client_context()
    correlation_id = f"foreign-{uuid.uuid4().hex}"
    command = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:example:foreign-shop",
        "type": "order.place",
        "correlationid": correlation_id,
        "traceparent": traceparent,
        "tracestate": "foreign=1",
        "datacontenttype": "application/json",
        "data": broker_helpers.request(idempotency_key=str(uuid.uuid4())),
    }
    with broker_helpers.client(traced.stack) as client:
        client.publish_raw(json.dumps(command).encode(), "order.place", command["id"], None)
        answer = client.wait(correlation_id, timeout_s=30)
    assert answer.type == "order.confirmed"
    names = {
        "process order.place",
        "publish order.placed",
        "process inventory.reserved",
        "process payment.charged",
        "process order.confirmed",
    }
    spans = spans_of(traced, trace_id, EVERY_SERVICE, names, span_id)
    (first,) = [s for s in spans if s.name == "process order.place"]
    assert (first.service, first.parent_id) == ("order", span_id)
    assert_one_tree(spans, span_id)


# The CloudEvents SDK as a foreign producer would use it: its Distributed Tracing extension
# attributes set on the event, each binding writing them its own way.
def sdk_rabbitmq_binary(event: SdkEvent) -> tuple[bytes, dict[str, object], str | None]:
    message = sdk_rabbitmq.to_binary_event(event)  # `ce-traceparent` headers
    return message.body, dict(message.headers), message.content_type


def sdk_rabbitmq_structured(event: SdkEvent) -> tuple[bytes, dict[str, object], str | None]:
    message = sdk_rabbitmq.to_structured_event(event)  # `traceparent` in the JSON envelope
    return message.body, dict(message.headers), message.content_type


def sdk_amqp_binary(event: SdkEvent) -> tuple[bytes, dict[str, object], str | None]:
    message = sdk_amqp.to_binary_event(event)  # `cloudEvents_traceparent` properties
    content_type = message.properties.get("content-type")
    return message.application_data, dict(message.application_properties), content_type


@pytest.mark.parametrize(
    "written_as", [sdk_rabbitmq_binary, sdk_rabbitmq_structured, sdk_amqp_binary]
)
def test_the_cloudevents_sdks_tracing_attributes_continue_the_trace(
    traced: Traced,
    written_as: Callable[[SdkEvent], tuple[bytes, dict[str, object], str | None]],
) -> None:
    """A command made with the CloudEvents SDK, its `traceparent` and `tracestate` extension
    attributes set: the order service's span for it is a child of the producer's span, carries
    its tracestate on, and the saga's events stay in that trace."""
    trace_id, span_id, traceparent = client_context()
    command_id = f"sdk-{uuid.uuid4()}"
    event = SdkEvent(
        {
            "type": "order.place",
            "source": "urn:example:sdk-shop",
            "id": command_id,
            "datacontenttype": "application/json",
            "traceparent": traceparent,
            "tracestate": "shop=sdk",
        },
        broker_helpers.request(idempotency_key=str(uuid.uuid4())),
    )
    answer = terminal_answer(traced.stack, command_id, *written_as(event))
    assert answer["type"] == "order.confirmed"
    names = {"process order.place", "process inventory.reserved", "process order.confirmed"}
    # Each reaction's unit of work is a transaction span, named by its handler.
    names |= {"transaction OrderChoreography.on_place"}
    names |= {"transaction InventoryHandlers.on_order_placed"}
    spans = spans_of(traced, trace_id, EVERY_SERVICE, names, span_id)
    (first,) = [s for s in spans if s.name == "process order.place"]
    assert (first.service, first.parent_id) == ("order", span_id)
    assert_one_tree(spans, span_id)
    # What the order service published goes on with the producer's tracestate (W3C: a
    # participant passes on the list it was given).
    assert answer["tracestate"] == "shop=sdk"


def terminal_answer(
    stack: Stack, correlation_id: str, body: bytes, headers: dict[str, object], content: str | None
) -> dict[str, Any]:
    """Publish a message as written, with plain pika, and read the order's terminal event (a
    command without `correlationid` is answered under its own id)."""
    names = broker_helpers.topology(stack)
    with rabbit_admin.channel(broker_helpers.broker_url(stack)) as channel:
        queue = channel.queue_declare("", exclusive=True).method.queue
        for kind in ("order.confirmed", "order.rejected", "order.cancelled"):
            channel.queue_bind(queue, names.events, routing_key=kind)
        properties = pika.BasicProperties(content_type=content, headers=headers)
        channel.basic_publish(names.events, "order.place", body, properties)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            method, _, raw = channel.basic_get(queue, auto_ack=True)
            if method is None:
                time.sleep(0.1)
                continue
            answer: dict[str, Any] = json.loads(raw)
            if answer.get("correlationid") == correlation_id:
                return answer
    raise AssertionError(f"no terminal event for {correlation_id} within 30 s")
