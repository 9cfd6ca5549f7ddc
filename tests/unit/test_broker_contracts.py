"""The broker style's contracts: the CloudEvents envelope, the event schemas, the topology and
its configuration. A consumer relies on each refusal here to dead-letter instead of crash."""

from __future__ import annotations

import json

import pytest

from services.kernel.broker import catalogue as ev
from services.kernel.broker.catalogue import data_of
from services.kernel.broker.events import InvalidEvent, decode, new_event
from services.kernel.broker.topology import SUBSCRIPTIONS, Exchange, Queue, Topology
from services.kernel.config import ConfigError, Settings


def reserved_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "order_id": "o-1",
        "customer_id": "ada",
        "payment_token": "tok_visa",
        "items": [{"sku": "KB-MECH", "quantity": 1, "unit_price_cents": 8999}],
        "total_cents": 8999,
    }
    return {**data, **overrides}


def test_an_event_survives_the_wire_and_carries_its_correlation_id() -> None:
    event = new_event(ev.INVENTORY_RESERVED, "orderflow/inventory", reserved_data(), "c-1", "o-1")
    again = decode(event.encode())
    assert again == event
    assert (again.specversion, again.correlationid, again.subject) == ("1.0", "c-1", "o-1")
    assert data_of(again, ev.InventoryReserved).total_cents == 8999


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00\xff", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"n": ' + b"9" * 5000 + b"}", "not JSON"),  # over Python's integer-digits limit
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),  # deeper than the parser recurses
        (b'{"id": "x"}', "not a CloudEvent"),
        (
            json.dumps({**json.loads(new_event("t", "s", {}, "c").encode()), "specversion": "0.3"}),
            "specversion",
        ),
        (
            json.dumps({**json.loads(new_event("t", "s", {}, "c").encode()), "Extra-1": 1}),
            "Extra-1",  # extensions are welcome, but their names are lower-case letters and digits
        ),
    ],
)
def test_what_is_not_a_cloudevent_is_refused_with_a_reason(body: bytes | str, reason: str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    with pytest.raises(InvalidEvent, match=reason):
        decode(raw)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (reserved_data(customer_id=None), "customer_id"),
        (reserved_data(items=[]), "items"),
        (reserved_data(total_cents="8999"), "total_cents"),  # strict: no string-to-int guessing
        (reserved_data(items=[{"sku": "A", "quantity": 0, "unit_price_cents": 1}]), "quantity"),
        (reserved_data(surprise=True), "surprise"),
    ],
)
def test_data_that_fails_its_schema_is_refused_naming_the_field(
    data: dict[str, object], field: str
) -> None:
    event = new_event(ev.INVENTORY_RESERVED, "orderflow/inventory", data, "c-1")
    with pytest.raises(InvalidEvent, match=field):
        data_of(event, ev.InventoryReserved)


def test_data_is_read_only_with_the_schema_of_its_type() -> None:
    event = new_event(ev.PAYMENT_CHARGED, "orderflow/payment", reserved_data(), "c-1")
    with pytest.raises(InvalidEvent, match="does not carry InventoryReserved"):
        data_of(event, ev.InventoryReserved)


def test_every_event_type_has_a_schema_and_every_subscription_names_a_known_type() -> None:
    subscribed = {kind for kinds in SUBSCRIPTIONS.values() for kind in kinds}
    assert subscribed <= set(ev.SCHEMAS)
    assert set(ev.SCHEMAS) - subscribed == set()  # nothing is published that nobody consumes


def test_the_topology_is_named_under_its_namespace_with_retry_and_dead_letter_queues() -> None:
    topology = Topology("ns", retry_delays_ms=(100, 400))
    plan = {item.name: item for item in topology.declarations()}
    assert plan["ns.events"] == Exchange("ns.events", "topic")
    assert plan["ns.dlx"] == Exchange("ns.dlx", "direct")
    main = plan["ns.payment"]
    assert isinstance(main, Queue)
    assert main.arguments == {
        "x-dead-letter-exchange": "ns.dlx",
        "x-dead-letter-routing-key": "payment",
    }
    assert main.bindings == (("ns.events", ev.INVENTORY_RESERVED), ("ns.events", ev.ORDER_VOIDED))
    retry = plan["ns.payment.retry.2"]
    assert isinstance(retry, Queue)
    assert retry.arguments == {
        "x-message-ttl": 400,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "ns.payment",  # back to payment only, not to every consumer
    }
    assert plan["ns.payment.dlq"] == Queue("ns.payment.dlq", {}, (("ns.dlx", "payment"),))
    assert topology.max_attempts == 3
    assert all(name.startswith("ns.") for name in topology.queues())
    assert len(topology.queues()) == 4 * (1 + 2 + 1)


def test_broker_settings_have_defaults_and_refuse_bad_values() -> None:
    settings = Settings.from_env({})
    assert settings.broker_url == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert (settings.broker_namespace, settings.broker_retry_delays_ms) == (
        "orderflow",
        (1000, 5000, 20000),
    )
    assert Settings.from_env(
        {"ORDERFLOW_BROKER_RETRY_DELAYS_MS": "5,10"}
    ).broker_retry_delays_ms == (
        5,
        10,
    )
    for variable, value in [
        ("ORDERFLOW_BROKER_URL", "http://x"),
        ("ORDERFLOW_BROKER_NAMESPACE", "Has Spaces"),
        ("ORDERFLOW_BROKER_RETRY_DELAYS_MS", "1,soon"),
        ("ORDERFLOW_BROKER_RETRY_DELAYS_MS", "0"),
    ]:
        with pytest.raises(ConfigError, match=variable):
            Settings.from_env({variable: value})
