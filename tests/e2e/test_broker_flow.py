"""The broker style end to end: real RabbitMQ (the machine's, in a namespace of this stack's own),
four service processes reacting to each other's events, a client that publishes `order.place`
and waits for its order's terminal event. After each test the books must balance."""

from __future__ import annotations

import functools
import json
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pika
import pytest
from cloudevents.core.bindings import amqp as sdk_amqp
from cloudevents.core.bindings import rabbitmq as sdk_rabbitmq
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from harness import audit
from harness.audit import check, read_books
from harness.cli.main import main as orderflow
from harness.clients.broker import BrokerOrderClient
from harness.rabbit import admin as rabbit_admin
from harness.stack.supervisor import Stack
from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import CONTENT_TYPE, new_event
from tests.e2e.broker_helpers import (
    broker_url,
    client,
    consumed,
    request,
    require_broker,
    topology,
    urls,
    wait_until,
)


@pytest.fixture
def broker(stack: Stack) -> Iterator[BrokerOrderClient]:
    require_broker(broker_url(stack))
    with client(stack) as made:
        yield made


@pytest.fixture
def books(stack: Stack) -> audit.Snapshot:
    return audit.snapshot(urls(stack))


def available(stack: Stack, sku: str) -> int:
    return int(httpx.get(f"{stack.url('inventory')}/products/{sku}").json()["available"])


def test_each_outcome_reaches_the_client_as_its_terminal_event(
    stack: Stack, broker: BrokerOrderClient, books: audit.Snapshot
) -> None:
    stock = available(stack, "KB-MECH")
    cases = {
        "confirmed": (request("KB-MECH", 2), ev.ORDER_CONFIRMED, "CONFIRMED", None),
        "declined": (
            request("KB-MECH", 1, "tok_chargeDeclined"),
            ev.ORDER_CANCELLED,
            "CANCELLED",
            "PAYMENT_DECLINED",
        ),
        "out of stock": (request("MUG-RETIRED"), ev.ORDER_REJECTED, "REJECTED", "OUT_OF_STOCK"),
        "unknown sku": (request("NO-SUCH-SKU"), ev.ORDER_REJECTED, "REJECTED", "UNKNOWN_SKU"),
    }
    sent = {name: broker.place(case[0]) for name, case in cases.items()}
    for name, (body, kind, status, reason) in cases.items():
        answer = broker.wait(sent[name])
        order = answer.data["order"]
        assert (answer.type, order["status"], order["reason"]) == (kind, status, reason), name
        assert answer.correlationid == sent[name]
        assert order["customer_id"] == body["customer_id"]
        stored = httpx.get(f"{stack.url('order')}/orders/{order['id']}").json()
        assert stored["status"] == status
    single = request("KB-MECH", 1)
    confirmed = broker.wait(broker.place(single))
    assert confirmed.data["order"]["total_cents"] == 8999  # the catalog's price, never the client's
    assert available(stack, "KB-MECH") == stock - 3  # the declined order's unit came back
    customers = [case[0]["customer_id"] for case in cases.values()] + [single["customer_id"]]
    ledger = audit.account(urls(stack), customers, books)
    assert ledger.clean, ledger.summary()


def test_the_same_command_delivered_twice_places_one_order(
    stack: Stack, broker: BrokerOrderClient, books: audit.Snapshot
) -> None:
    body = request()
    event = new_event(ev.ORDER_PLACE, "orderflow/client", body, "dup-command-1")
    for _ in range(2):
        broker.publish_raw(event.encode(), ev.ORDER_PLACE, event.id, event.correlationid)
    assert broker.wait("dup-command-1").type == ev.ORDER_CONFIRMED
    wait_until(lambda: consumed(stack, "order", ev.ORDER_PLACE) >= 2, what="both copies handled")
    ledger = audit.account(urls(stack), [body["customer_id"]], books)
    assert ledger.clean, ledger.summary()


def test_a_retry_with_the_same_idempotency_key_is_answered_without_a_second_order(
    stack: Stack, broker: BrokerOrderClient, books: audit.Snapshot
) -> None:
    body = request(idempotency_key="broker-retry-1")
    first = broker.wait(broker.place(body))
    again = broker.wait(broker.place(body))  # another correlation id: a client that retried
    assert again.data["order"]["id"] == first.data["order"]["id"]
    assert again.type == first.type == ev.ORDER_CONFIRMED
    ledger = audit.account(urls(stack), [body["customer_id"]], books)
    assert ledger.clean, ledger.summary()


def test_a_duplicated_mid_saga_event_changes_nothing(
    stack: Stack, broker: BrokerOrderClient, books: audit.Snapshot
) -> None:
    """Capture a real `inventory.reserved` and publish it twice more: payment and order must
    drop both copies (one charge, one confirmation, one notification)."""
    names = topology(stack)
    with rabbit_admin.channel(broker_url(stack)) as spy:
        queue = spy.queue_declare("", exclusive=True).method.queue
        spy.queue_bind(queue, names.events, routing_key=ev.INVENTORY_RESERVED)
        body = request()
        answer = broker.wait(broker.place(body))
        assert answer.type == ev.ORDER_CONFIRMED
        captured = None
        while captured is None or json.loads(captured[2])["subject"] != answer.data["order"]["id"]:
            captured = spy.basic_get(queue, auto_ack=True)
            assert captured[0] is not None, "the inventory.reserved event was not seen"
        _, properties, raw = captured
        handled = {s: consumed(stack, s, ev.INVENTORY_RESERVED) for s in ("payment", "order")}
        for _ in range(2):
            spy.basic_publish(names.events, ev.INVENTORY_RESERVED, raw, properties)
    for service, before in handled.items():
        wait_until(
            functools.partial(saw_both, stack, service, before),
            what=f"{service} to see both copies",
        )
    ledger = audit.account(urls(stack), [body["customer_id"]], books)
    assert ledger.clean, ledger.summary()


def saw_both(stack: Stack, service: str, before: float) -> bool:
    return consumed(stack, service, ev.INVENTORY_RESERVED) >= before + 2


def test_poison_messages_go_to_the_dead_letter_queue_with_their_reason(
    stack: Stack, broker: BrokerOrderClient, books: audit.Snapshot
) -> None:
    names = topology(stack)
    broker.publish_raw(b"\x00 not json", ev.ORDER_PLACED, "poison-1", "poison-1")
    bad_data = new_event(ev.INVENTORY_RESERVED, "orderflow/test", {"order_id": "x"}, "poison-2")
    broker.publish_raw(bad_data.encode(), ev.INVENTORY_RESERVED, bad_data.id, "poison-2")
    bad_command = request(token="tok_stolen")
    broker.place(bad_command, correlation_id="poison-3")

    def letters() -> dict[str, list[rabbit_admin.DeadLetter]]:
        return rabbit_admin.dead_letters(broker_url(stack), names)

    wait_until(lambda: sum(len(v) for v in letters().values()) >= 4, what="dead letters")
    found = letters()
    reasons = {(s, d.correlation_id): d.reason for s, ds in found.items() for d in ds}
    assert "not JSON" in reasons[("inventory", "poison-1")]
    assert "data.customer_id" in reasons[("payment", "poison-2")]  # the schema names the field
    assert "data.customer_id" in reasons[("order", "poison-2")]
    assert "payment_token" in reasons[("order", "poison-3")]
    # The flow goes on for everyone else, and the poison left nothing behind.
    body = request()
    assert broker.wait(broker.place(body)).type == ev.ORDER_CONFIRMED
    ledger = audit.account(urls(stack), [body["customer_id"], bad_command["customer_id"]], books)
    assert ledger.lost == 1 and ledger.problems[0].startswith(bad_command["customer_id"])
    assert (ledger.duplicated, ledger.stuck, ledger.inconsistent) == (0, 0, 0), ledger.summary()


def test_orderflow_dlq_lists_and_replays(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    names = topology(stack)
    with client(stack) as broker:
        broker.publish_raw(b"[]", ev.PAYMENT_DECLINED, "dlq-cli-1", "dlq-cli-1")
    wait_until(
        lambda: any(
            d.correlation_id == "dlq-cli-1"
            for d in rabbit_admin.dead_letters(broker_url(stack), names)["inventory"]
        ),
        what="the dead letter",
    )
    args = ["dlq", "--url", broker_url(stack), "--namespace", names.namespace]
    assert orderflow(args) == 0
    shown = capsys.readouterr().out
    assert "correlation=dlq-cli-1" in shown and "not a JSON object" in shown
    before = len(rabbit_admin.dead_letters(broker_url(stack), names)["inventory"])
    assert orderflow([*args, "--replay", "inventory"]) == 0
    assert f"replayed {before} message(s)" in capsys.readouterr().out
    # Still poison: it comes back to the DLQ, with its reason, rather than vanishing.
    wait_until(
        lambda: len(rabbit_admin.dead_letters(broker_url(stack), names)["inventory"]) == before,
        what="the replayed poison to be dead-lettered again",
    )


def test_orderflow_dlq_explains_an_unreachable_broker(capsys: pytest.CaptureFixture[str]) -> None:
    assert orderflow(["dlq", "--url", "amqp://guest:secret@127.0.0.1:1/%2F"]) == 1
    out = capsys.readouterr().out
    assert "cannot connect" in out and "secret" not in out


def test_messages_carry_cloudevents_and_amqp_properties(
    stack: Stack, broker: BrokerOrderClient
) -> None:
    names = topology(stack)
    with rabbit_admin.channel(broker_url(stack)) as spy:
        queue = spy.queue_declare("", exclusive=True).method.queue
        spy.queue_bind(queue, names.events, routing_key=ev.ORDER_PLACED)
        correlation = broker.place(request())
        broker.wait(correlation)
        method, properties, raw = spy.basic_get(queue, auto_ack=True)
    assert method is not None
    event = json.loads(raw)
    assert event["specversion"] == "1.0" and event["type"] == ev.ORDER_PLACED
    assert event["correlationid"] == correlation == properties.correlation_id
    assert properties.message_id == event["id"] and properties.type == ev.ORDER_PLACED
    assert properties.delivery_mode == pika.DeliveryMode.Persistent.value


def test_without_a_broker_the_broker_tests_fail_saying_what_is_missing() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"need RabbitMQ at amqp://.*:1/"):
        require_broker("amqp://guest:guest@127.0.0.1:1/%2F")


# A client written from the CloudEvents spec alone, with pika and nothing of ours: it binds its
# own queue to the terminal events and reads them as JSON.

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
Publish = Callable[[Any, str], str]  # (channel, exchange) -> the correlation id to wait for


def foreign_answer(stack: Stack, publish: Publish, timeout_s: float = 30.0) -> dict[str, Any]:
    names = topology(stack)
    with rabbit_admin.channel(broker_url(stack)) as channel:
        queue = channel.queue_declare("", exclusive=True).method.queue
        for kind in ev.TERMINAL:
            channel.queue_bind(queue, names.events, routing_key=kind)
        correlation_id = publish(channel, names.events)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            method, _, raw = channel.basic_get(queue, auto_ack=True)
            if method is None:
                time.sleep(0.1)
                continue
            answer: dict[str, Any] = json.loads(raw)
            if answer.get("correlationid") == correlation_id:
                return answer
    raise AssertionError(f"no terminal event for {correlation_id} within {timeout_s}s")


def test_a_foreign_structured_command_without_time_or_correlation_id_is_answered(
    stack: Stack, books: audit.Snapshot
) -> None:
    """Only the required attributes, plus a `traceparent` extension: answered under its id."""
    require_broker(broker_url(stack))
    body = request()
    command_id = f"foreign-{uuid.uuid4()}"

    def publish(channel: Any, exchange: str) -> str:
        envelope = {
            "specversion": "1.0",
            "type": ev.ORDER_PLACE,
            "source": "urn:example:shop",
            "id": command_id,
            "traceparent": TRACEPARENT,
            "data": body,
        }
        properties = pika.BasicProperties(content_type=f"{CONTENT_TYPE}; charset=utf-8")
        channel.basic_publish(exchange, ev.ORDER_PLACE, json.dumps(envelope).encode(), properties)
        return command_id

    answer = foreign_answer(stack, publish)
    assert answer["type"] == ev.ORDER_CONFIRMED
    assert answer["data"]["order"]["customer_id"] == body["customer_id"]
    ledger = audit.account(urls(stack), [body["customer_id"]], books)
    assert ledger.clean, ledger.summary()


def spec_headers(command_id: str) -> tuple[dict[str, object], str | None]:
    """The AMQP binding's binary mode as its spec writes it, `time` as an AMQP timestamp."""
    headers: dict[str, object] = {
        "cloudEvents:specversion": "1.0",
        "cloudEvents:type": ev.ORDER_PLACE,
        "cloudEvents:source": "/mycontext/subcontext",
        "cloudEvents:id": command_id,
        "cloudEvents:time": datetime(2018, 4, 5, 3, 56, 24),
        "cloudEvents:traceparent": TRACEPARENT,
    }
    return headers, "application/json; charset=utf-8"


def sdk_amqp_headers(command_id: str) -> tuple[dict[str, object], str | None]:
    """What the CloudEvents SDK's AMQP binding writes: `cloudEvents_`, time in milliseconds."""
    sdk = SdkEvent({"type": ev.ORDER_PLACE, "source": "/shop", "id": command_id}, {})
    message = sdk_amqp.to_binary_event(sdk)
    return message.application_properties, message.properties.get("content-type")


def sdk_rabbitmq_headers(command_id: str) -> tuple[dict[str, object], str | None]:
    """What the CloudEvents SDK's RabbitMQ binding writes for pika: `ce-` headers."""
    sdk = SdkEvent({"type": ev.ORDER_PLACE, "source": "/shop", "id": command_id}, {})
    message = sdk_rabbitmq.to_binary_event(sdk)
    return dict(message.headers), message.content_type


@pytest.mark.parametrize("written_as", [spec_headers, sdk_amqp_headers, sdk_rabbitmq_headers])
def test_a_foreign_binary_mode_command_is_answered(
    stack: Stack,
    books: audit.Snapshot,
    written_as: Callable[[str], tuple[dict[str, object], str | None]],
) -> None:
    require_broker(broker_url(stack))
    body = request("KB-MECH", 1, "tok_chargeDeclined")
    command_id = f"binary-{uuid.uuid4()}"

    def publish(channel: Any, exchange: str) -> str:
        headers, content_type = written_as(command_id)
        properties = pika.BasicProperties(content_type=content_type, headers=headers)
        channel.basic_publish(exchange, ev.ORDER_PLACE, json.dumps(body).encode(), properties)
        return command_id

    answer = foreign_answer(stack, publish)
    assert (answer["type"], answer["data"]["order"]["reason"]) == (
        ev.ORDER_CANCELLED,
        "PAYMENT_DECLINED",
    )
    ledger = audit.account(urls(stack), [body["customer_id"]], books)
    assert ledger.clean, ledger.summary()


# Defence in depth: an event forged with the order service's own credentials (here, the shared
# broker's guest) makes inventory reserve and payment charge; the order service, which never
# placed that order (or whose outcome rules it out), has both given back.


def forge_order_placed(broker: BrokerOrderClient, order_id: str) -> None:
    data = {
        "order_id": order_id,
        "customer_id": "mallory",
        "items": [{"sku": "KB-MECH", "quantity": 3}],
        "payment_token": "tok_visa",
    }
    forged = new_event(ev.ORDER_PLACED, "orderflow/order", data, f"forged-{order_id}", order_id)
    broker.publish_raw(forged.encode(), ev.ORDER_PLACED, forged.id, forged.correlationid)


def given_back(stack: Stack, order_id: str) -> bool:
    """Stock was taken (a reservation with lines) and is back; no charge stands."""
    reservation = httpx.get(f"{stack.url('inventory')}/reservations/{order_id}")
    if reservation.status_code != 200:
        return False
    held = reservation.json()
    payment = httpx.get(f"{stack.url('payment')}/charges/{order_id}")
    status = payment.json()["status"] if payment.status_code == 200 else None
    return held["status"] == "RELEASED" and bool(held["items"]) and status in GIVEN_BACK


GIVEN_BACK = ("REFUNDED", "VOIDED")  # VOIDED: the void reached payment before the charge


def test_a_forged_order_placed_is_given_back_and_the_audit_stays_at_zero(
    stack: Stack, broker: BrokerOrderClient
) -> None:
    rejected = broker.wait(broker.place(request("MUG-RETIRED")))  # out of stock: REJECTED
    assert rejected.data["order"]["status"] == "REJECTED"
    stock = available(stack, "KB-MECH")
    unknown = f"forged-{uuid.uuid4()}"
    targets = [unknown, rejected.data["order"]["id"]]  # never placed; placed and rejected
    for order_id in targets:
        forge_order_placed(broker, order_id)
    wait_until(
        lambda: all(given_back(stack, order_id) for order_id in targets),
        what="the forged reservations and charges to be given back",
    )
    assert available(stack, "KB-MECH") == stock
    rejected_now = httpx.get(f"{stack.url('order')}/orders/{targets[1]}").json()
    assert rejected_now["status"] == "REJECTED"  # the outcome stands; only the holds went back
    assert httpx.get(f"{stack.url('order')}/orders/{unknown}").status_code == 404
    found = check(read_books(urls(stack), None), accepted=[])
    assert found["counts"] == dict.fromkeys(found["counts"], 0), found["examples"]


class _PoisonProperties(pika.BasicProperties):  # type: ignore[misc]
    """Properties that encode to the given raw AMQP field table, as a hostile client could
    send it: what pika's own encoder would never write."""

    def __init__(self, table_entries: bytes) -> None:
        super().__init__()
        self._entries = table_entries

    def encode(self) -> list[bytes]:
        headers_flag = 1 << 13
        table = struct.pack(">I", len(self._entries)) + self._entries
        return [struct.pack(">H", headers_flag), table]


def far_timestamp_header() -> bytes:
    return b"\x01t" + b"T" + struct.pack(">Q", 2**63)  # past the year 9999


def deep_table_header(depth: int = 5000) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = b"\x01a" + b"F" + struct.pack(">I", len(inner)) + inner
    return b"\x01x" + b"F" + struct.pack(">I", len(inner)) + inner


def test_a_header_pika_cannot_decode_is_dead_lettered_and_the_queue_moves_on(
    stack: Stack, books: audit.Snapshot
) -> None:
    """Before the guard in kernel/broker/frames.py, each of these dropped the order service's
    connection on delivery and came back on every reconnect: the queue stopped for good."""
    require_broker(broker_url(stack))
    names = topology(stack)
    poison = {"far-timestamp": far_timestamp_header(), "deep-tables": deep_table_header()}
    with rabbit_admin.channel(broker_url(stack)) as channel:
        for name, entries in poison.items():
            envelope = new_event(ev.ORDER_PLACE, "urn:example:hostile", request(), f"poison-{name}")
            channel.basic_publish(
                names.events, ev.ORDER_PLACE, envelope.encode(), _PoisonProperties(entries)
            )

    def unreadable() -> list[str]:
        letters = rabbit_admin.dead_letters(broker_url(stack), names).get("order", [])
        return [d.reason for d in letters if "cannot be decoded" in (d.reason or "")]

    wait_until(lambda: len(unreadable()) >= len(poison), what="both poison messages dead-lettered")
    body = request()

    def publish(channel: Any, exchange: str) -> str:
        command = new_event(ev.ORDER_PLACE, "urn:example:shop", body, f"after-{uuid.uuid4()}")
        properties = pika.BasicProperties(content_type=CONTENT_TYPE)
        channel.basic_publish(exchange, ev.ORDER_PLACE, command.encode(), properties)
        return command.correlationid

    assert foreign_answer(stack, publish)["type"] == ev.ORDER_CONFIRMED
    ledger = audit.account(urls(stack), [body["customer_id"]], books)
    assert ledger.clean, ledger.summary()
