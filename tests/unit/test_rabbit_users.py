"""The project's broker users and permissions (harness/rabbit/definitions.json), read as
RabbitMQ reads them: each regex is matched against a resource name or a routing key."""

from __future__ import annotations

import re
from typing import Any

import pytest

from harness.rabbit import users as rabbit_users
from services.kernel.broker import catalogue as ev
from services.kernel.broker.topology import Topology
from services.kernel.config import SERVICES

EVENT_TYPES = sorted(ev.SCHEMAS)  # every type of the catalogue has its schema
PUBLISHER = {**{t: t.partition(".")[0] for t in EVENT_TYPES}, ev.ORDER_PLACE: "client"}


def grant(definitions: dict[str, Any], user: str) -> dict[str, str]:
    [found] = [g for g in definitions["permissions"] if g["user"] == user]
    return dict(found)


def may(regex: str, name: str) -> bool:
    return re.search(regex, name) is not None  # RabbitMQ's match is unanchored too


def topic_grants(definitions: dict[str, Any], user: str) -> dict[str, str]:
    return {
        g["exchange"]: g["write"] for g in definitions["topic_permissions"] if g["user"] == user
    }


def test_every_event_type_has_one_publisher_in_the_catalogue() -> None:
    assert set(PUBLISHER.values()) == {"client", "order", "inventory", "payment"}
    assert {ev.ORDER_PLACE, ev.ORDER_PLACED, ev.PAYMENT_CHARGED, *ev.TERMINAL} <= set(EVENT_TYPES)


@pytest.mark.parametrize(
    ("user", "key"),
    [
        ("order", "order.place"),
        ("order", "order.placed.x"),
        ("order", "order."),
        ("order", "inventory.reserved"),
        ("inventory", "inventory.reserved.extra"),
        ("inventory", "xinventory.reserved"),
        ("payment", "payment.#"),
        ("payment", "payment.*"),
        ("notification", "notification.sent"),
        ("client", "order.place.x"),
        ("client", "order.placed"),
    ],
)
def test_a_key_outside_what_a_user_owns_is_refused(user: str, key: str) -> None:
    """Owners publish their own types, by a pattern (`order.*` but `order.place`), so a type
    added to the catalogue needs no new grant; what the pattern lets through stays narrow."""
    assert not may(topic_grants(rabbit_users.definitions(), user)["orderflow.events"], key)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_event_type_is_published_by_its_owner_and_nobody_else(event_type: str) -> None:
    writers = {
        user
        for user in (*SERVICES, rabbit_users.CLIENT)
        if may(topic_grants(rabbit_users.definitions(), user)["orderflow.events"], event_type)
    }
    assert writers == {PUBLISHER[event_type]}


def test_the_order_service_cannot_forge_a_clients_command() -> None:
    order = topic_grants(rabbit_users.definitions(), "order")["orderflow.events"]
    assert not may(order, ev.ORDER_PLACE)
    assert all(may(order, t) for t in (ev.ORDER_PLACED, *ev.TERMINAL))


def test_the_admin_is_the_only_administrator_and_has_no_topic_limits() -> None:
    definitions = rabbit_users.definitions()
    tagged = {u["name"] for u in definitions["users"] if u["tags"]}
    assert tagged == {rabbit_users.ADMIN}
    assert topic_grants(definitions, rabbit_users.ADMIN) == {}
    assert not any(u["name"] == "guest" for u in definitions["users"])


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_may_declare_the_whole_topology_but_no_dead_letter_queue(
    service: str,
) -> None:
    topology = Topology("orderflow")
    granted = grant(rabbit_users.definitions(), service)
    for name in (topology.events, topology.dlx, *topology.queues()):
        assert may(granted["configure"], name), name
        assert may(granted["write"], name), name  # binding a queue is a write on it
    assert may(granted["write"], "amq.default")  # retry copies go through the default exchange
    # Declaring a queue with a dead-letter exchange takes read on it: every main and retry
    # queue, then (every service declares them all); never a dead-letter queue.
    readable = {q for q in topology.queues() if may(granted["read"], q)}
    assert readable == {q for q in topology.queues() if not q.endswith(".dlq")}
    assert not may(granted["configure"], "orderflow.elsewhere")


def test_a_client_may_only_check_the_exchange_and_own_reply_queues() -> None:
    granted = grant(rabbit_users.definitions(), rabbit_users.CLIENT)
    topology = Topology("orderflow")
    assert not may(granted["configure"], topology.events)  # no redeclaring, no deleting it
    assert may(granted["write"], topology.events) and may(granted["read"], topology.events)
    for queue in ("amq.gen-Xa3_9q", "orderflow.loadgen.0123456789ab"):
        assert all(may(granted[kind], queue) for kind in ("configure", "write", "read"))
    for queue in topology.queues():
        assert not any(may(granted[kind], queue) for kind in ("configure", "write", "read"))
    assert not may(granted["write"], "amq.default")


def test_other_namespaces_are_granted_only_when_asked_for() -> None:
    rendered = rabbit_users.definitions(["e2e-0a1b2c", "orderflow"])
    for service in SERVICES:
        granted = grant(rendered, service)
        for namespace in ("e2e-0a1b2c", "orderflow"):
            assert may(granted["configure"], f"{namespace}.{service}.retry.2")
            assert may(granted["read"], f"{namespace}.{service}")
        assert not may(granted["configure"], "e2e-0a1b2cX.events")
        assert not may(granted["configure"], "other.events")
        topics = topic_grants(rendered, service)
        assert set(topics) == {"e2e-0a1b2c.events", "orderflow.events"}
        assert topics["e2e-0a1b2c.events"] == topics["orderflow.events"]
    assert rabbit_users.definitions() == rabbit_users.definitions(["orderflow"])


def test_a_namespace_is_escaped_in_the_regexes() -> None:
    granted = grant(rabbit_users.definitions(["a.b"]), "order")
    assert may(granted["configure"], "a.b.events")
    assert not may(granted["configure"], "aXb.events")


def test_identities_come_from_the_definitions_file() -> None:
    assert rabbit_users.identity("order") == rabbit_users.Identity("order", "orderflow-order-dev")
    with pytest.raises(LookupError, match="guest"):
        rabbit_users.identity("guest")


def test_a_url_without_a_user_means_the_projects_identity() -> None:
    assert rabbit_users.resolve("amqp://h:1/%2F", "client") == (
        "amqp://client:orderflow-client-dev@h:1/%2F"
    )
    assert rabbit_users.resolve("amqp://guest:guest@h:1/%2F", "client") == (
        "amqp://guest:guest@h:1/%2F"
    )


def test_a_service_process_gets_its_own_user_only_when_nothing_names_one() -> None:
    bare = {"ORDERFLOW_BROKER_URL": "amqp://h:1/%2F"}
    assert rabbit_users.service_environment(bare, "payment") == {
        "ORDERFLOW_BROKER_USER": "payment",
        "ORDERFLOW_BROKER_PASSWORD": "orderflow-payment-dev",
    }
    assert rabbit_users.service_environment({}, "payment") == {}  # the default names guest
    named = {"ORDERFLOW_BROKER_URL": "amqp://u:p@h:1/%2F"}
    assert rabbit_users.service_environment(named, "payment") == {}
    chosen = {**bare, "ORDERFLOW_BROKER_USER": "x", "ORDERFLOW_BROKER_PASSWORD": "y"}
    assert rabbit_users.service_environment(chosen, "payment") == {}
