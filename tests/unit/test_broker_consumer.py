"""What the consumer does with each delivery: hand it to its use case, retry it through the TTL
queues, or dead-letter it with its reason. The link is a fake of the project's own port that
records what would have been published."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pika
import pytest

from services.kernel import correlation
from services.kernel.broker import catalogue as ev
from services.kernel.broker.consumer import ATTEMPTS, ORIGINAL_KEY, REASON, EventConsumer
from services.kernel.broker.events import CloudEvent, new_event
from services.kernel.broker.link import Delivery
from services.kernel.broker.topology import Topology
from services.kernel.errors import InvalidRequest
from services.kernel.telemetry import Telemetry


@dataclass
class Published:
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]


@dataclass
class RecordingLink:
    published: list[Published] = field(default_factory=list)

    async def publish(self, exchange: str, key: str, body: bytes, properties: Any) -> None:
        self.published.append(Published(exchange, key, body, dict(properties.headers)))


def delivery(
    body: bytes, key: str = ev.ORDER_PLACED, attempts: object = None, **headers: object
) -> Delivery:
    if attempts is not None:
        headers[ATTEMPTS] = attempts
    properties = pika.BasicProperties(message_id="m-1", headers=headers)
    return Delivery(body, key, properties, redelivered=False)


def placed() -> CloudEvent:
    data = {"order_id": "o-1", "customer_id": "ada", "items": [], "payment_token": "tok_visa"}
    return new_event(ev.ORDER_PLACED, "orderflow/order", data, "corr-7")


def consumer_with(use_case: Any) -> tuple[EventConsumer, RecordingLink]:
    topology = Topology("ns", retry_delays_ms=(10, 20))
    consumer = EventConsumer("inventory", topology, {ev.ORDER_PLACED: use_case}, Telemetry("t"))
    link = RecordingLink()
    consumer.attach(link)  # type: ignore[arg-type]  # the fake stands in for BrokerLink
    return consumer, link


async def test_a_handled_event_reaches_its_use_case_under_its_correlation_id() -> None:
    seen: list[tuple[str, str | None]] = []

    async def use_case(event: CloudEvent) -> None:
        seen.append((event.id, correlation.current()))

    consumer, link = consumer_with(use_case)
    event = placed()
    await consumer(delivery(event.encode()))
    assert seen == [(event.id, "corr-7")]
    assert link.published == []


async def never(event: CloudEvent) -> None:
    raise AssertionError("a poison message must not reach the use case")


@pytest.mark.parametrize(
    ("body", "key", "reason"),
    [
        (b"not json", ev.ORDER_PLACED, "not JSON"),
        (
            new_event("order.unheard.of", "x", {}, "c").encode(),
            "order.unheard.of",
            "does not handle",
        ),
    ],
)
async def test_poison_is_dead_lettered_with_its_reason(body: bytes, key: str, reason: str) -> None:
    consumer, link = consumer_with(never)
    await consumer(delivery(body, key))
    [copy] = link.published
    assert (copy.exchange, copy.routing_key, copy.body) == ("ns.dlx", "inventory", body)
    assert reason in copy.headers[REASON] and copy.headers[ORIGINAL_KEY] == key


async def test_a_request_the_domain_refuses_is_dead_lettered_at_once() -> None:
    async def refuse(event: CloudEvent) -> None:
        raise InvalidRequest("payment_token must be one of ...", field="payment_token")

    consumer, link = consumer_with(refuse)
    await consumer(delivery(placed().encode()))
    [copy] = link.published
    assert copy.exchange == "ns.dlx" and "InvalidRequest: payment_token" in copy.headers[REASON]


async def test_a_transient_failure_goes_through_each_retry_queue_then_to_the_dlq() -> None:
    async def fail(event: CloudEvent) -> None:
        raise RuntimeError("database is locked")

    consumer, link = consumer_with(fail)
    body = placed().encode()
    await consumer(delivery(body))
    await consumer(delivery(body, attempts=1))
    await consumer(delivery(body, attempts=2))
    hops = [(p.exchange, p.routing_key, p.headers[ATTEMPTS]) for p in link.published]
    assert hops == [
        ("", "ns.inventory.retry.1", 1),
        ("", "ns.inventory.retry.2", 2),
        ("ns.dlx", "inventory", 3),
    ]
    assert link.published[-1].headers[REASON].startswith("gave up after 3 attempts")
    assert "database is locked" in link.published[-1].headers[REASON]


async def test_the_routing_key_it_was_published_with_survives_the_retry_hops() -> None:
    async def fail(event: CloudEvent) -> None:
        raise RuntimeError("still locked")

    consumer, link = consumer_with(fail)
    body = placed().encode()
    await consumer(delivery(body))  # first try: arrives with its own routing key
    first_hop = link.published[-1].headers
    # Back from retry.1 and retry.2 it arrives with the retry queue's dead-letter key.
    await consumer(delivery(body, "ns.inventory", attempts=1, **first_hop))
    await consumer(delivery(body, "ns.inventory", attempts=2, **link.published[-1].headers))
    assert [p.headers[ORIGINAL_KEY] for p in link.published] == [ev.ORDER_PLACED] * 3


@pytest.mark.parametrize("lie", ["9", -4, 10**9, b"2"])
async def test_an_attempts_header_it_did_not_write_counts_as_none(lie: object) -> None:
    async def fail(event: CloudEvent) -> None:
        raise RuntimeError("locked")

    consumer, link = consumer_with(fail)
    await consumer(delivery(placed().encode(), attempts=lie))
    assert (link.published[0].routing_key, link.published[0].headers[ATTEMPTS]) == (
        "ns.inventory.retry.1",
        1,
    )


async def test_a_binary_mode_event_reaches_its_use_case_under_its_own_id() -> None:
    """The AMQP binding's binary content mode: attributes in `cloudEvents:` headers, data in the
    body; with no correlation id the event's id stands in for it."""
    seen: list[tuple[CloudEvent, str | None]] = []

    async def use_case(event: CloudEvent) -> None:
        seen.append((event, correlation.current()))

    consumer, link = consumer_with(use_case)
    headers = {
        "cloudEvents:specversion": "1.0",
        "cloudEvents:id": "bin-1",
        "cloudEvents:source": "/foreign",
        "cloudEvents:type": ev.ORDER_PLACED,
        "cloudEvents:traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    properties = pika.BasicProperties(content_type="application/json", headers=headers)
    await consumer(Delivery(b'{"order_id": "o-1"}', ev.ORDER_PLACED, properties, False))
    [(event, current)] = seen
    assert (event.id, event.data, current) == ("bin-1", {"order_id": "o-1"}, "bin-1")
    assert link.published == []


async def test_an_invalid_binary_mode_event_is_dead_lettered_with_the_rule_it_broke() -> None:
    consumer, link = consumer_with(never)
    headers = {"cloudEvents:specversion": "1.0", "cloudEvents:type": ev.ORDER_PLACED}
    properties = pika.BasicProperties(content_type="application/json", headers=headers)
    await consumer(Delivery(b"{}", ev.ORDER_PLACED, properties, False))
    [copy] = link.published
    assert (
        copy.exchange == "ns.dlx" and "required attribute 'id' is missing" in copy.headers[REASON]
    )
    assert copy.headers["cloudEvents:type"] == ev.ORDER_PLACED  # kept, for a replay
