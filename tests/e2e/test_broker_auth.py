"""Least privilege on the broker, on a RabbitMQ node this test starts itself (never the
machine's, where guest may do anything): the services connect as their own users, a client as
`client`, and the broker refuses anyone publishing an event they do not own. A forged
`order.placed` would otherwise make inventory reserve stock and payment charge a card."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pika
import pika.exceptions
import pytest

from harness import audit
from harness.cli.main import main as orderflow
from harness.cli.up import GUEST_WARNING, READY_LINE
from harness.clients.broker import BrokerOrderClient
from harness.rabbit import admin as rabbit_admin
from harness.rabbit import users as rabbit_users
from harness.rabbit.node import PrivateBroker
from harness.stack.ports import free_ports
from harness.stack.supervisor import Stack, StackConfig
from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import CONTENT_TYPE, new_event
from services.kernel.broker.topology import Topology
from services.kernel.config import SERVICES, port_variable
from tests.e2e.broker_helpers import request, urls, wait_until
from tests.e2e.conftest import E2E_ENV

# Who tries to publish what they do not own: clients forging the services' events, services
# forging each other's and the client's command.
FORGERIES = [
    ("client", ev.ORDER_PLACED),
    ("client", ev.INVENTORY_RESERVED),
    ("client", ev.PAYMENT_CHARGED),
    ("client", ev.ORDER_CONFIRMED),
    ("inventory", ev.ORDER_PLACED),
    ("inventory", ev.PAYMENT_CHARGED),
    ("payment", ev.INVENTORY_RESERVED),
    ("payment", ev.ORDER_CONFIRMED),
    ("order", ev.ORDER_PLACE),
    ("order", ev.INVENTORY_RELEASED),
    ("notification", ev.ORDER_PLACED),
]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    with PrivateBroker(tmp_path_factory.mktemp("broker")) as started:
        yield started


@pytest.fixture(scope="module")
def namespace(broker: PrivateBroker) -> str:
    chosen = f"e2e-{uuid.uuid4().hex[:12]}"
    broker.grant(
        chosen
    )  # the definitions grant `orderflow`; a test works in a namespace of its own
    return chosen


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, broker: PrivateBroker, namespace: str
) -> Iterator[Stack]:
    # A URL without a user: the supervisor gives each service its own.
    env = {**E2E_ENV, "ORDERFLOW_BROKER_URL": broker.url, "ORDERFLOW_BROKER_NAMESPACE": namespace}
    running = Stack(StackConfig.on_free_ports(tmp_path_factory.mktemp("stack"), extra_env=env))
    with running:
        running.start(reset=True, timeout_s=60)
        wait_until(lambda: _all_linked(running), what="every service to join the broker")
        yield running


def _all_linked(stack: Stack) -> bool:
    for service in SERVICES:
        metrics = httpx.get(f"{stack.url(service)}/metrics", timeout=10).text
        if "orderflow_broker_connected 1.0" not in metrics:
            return False
    return True


@pytest.fixture
def spy(broker: PrivateBroker, namespace: str, stack: Stack) -> Iterator[Any]:
    """A queue (the operator's) bound to every routing key of the namespace's events."""
    with rabbit_admin.channel(broker.url) as channel:
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, Topology(namespace).events, routing_key="#")
        yield channel, queue


def seen(spy: Any) -> list[tuple[str, str | None]]:
    channel, queue = spy
    found: list[tuple[str, str | None]] = []
    while True:
        method, properties, _body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return found
        found.append((method.routing_key, properties.message_id))


def connect_as(broker: PrivateBroker, user: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(rabbit_users.as_user(broker.url, user)))


def forged(kind: str) -> tuple[bytes, str]:
    """A well-formed event of `kind` about an order nobody placed."""
    data = {
        "order_id": f"forged-{uuid.uuid4().hex[:12]}",
        "customer_id": "mallory",
        "items": [{"sku": "KB-MECH", "quantity": 3}],
        "payment_token": "tok_visa",
    }
    event = new_event(kind, "orderflow/forger", data, str(uuid.uuid4()))
    return event.encode(), event.id


def test_each_service_is_connected_as_its_own_user(broker: PrivateBroker, stack: Stack) -> None:
    users = _connected_users(broker)
    assert set(SERVICES) <= users
    assert not users & {"guest", rabbit_users.ADMIN, rabbit_users.CLIENT}


def test_each_service_process_holds_only_its_own_password(stack: Stack) -> None:
    passwords = {name: rabbit_users.identity(name).password for name in rabbit_users.IDENTITIES}
    for service in SERVICES:
        environ = Path(f"/proc/{stack.pid(service)}/environ").read_bytes().decode()
        assert f"ORDERFLOW_BROKER_USER={service}" in environ.split("\0")
        held = {name for name, password in passwords.items() if password in environ}
        assert held == {service}, service


def test_the_node_has_no_guest(broker: PrivateBroker) -> None:
    with pytest.raises(pika.exceptions.ProbableAuthenticationError, match="ACCESS_REFUSED"):
        pika.BlockingConnection(
            pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{broker.amqp_port}/%2F")
        )


def test_an_order_placed_as_the_client_user_is_confirmed_end_to_end(
    broker: PrivateBroker, namespace: str, stack: Stack
) -> None:
    books = audit.snapshot(urls(stack))
    body = request("KB-MECH", 2)
    with BrokerOrderClient(broker.url, namespace) as client:  # no user in the URL: `client`
        answer = client.place_and_wait(body, timeout_s=60)
    order = answer.data["order"]
    assert (answer.type, order["status"], order["reason"]) == (
        ev.ORDER_CONFIRMED,
        "CONFIRMED",
        None,
    )
    ledger = audit.account(urls(stack), [body["customer_id"]], books)
    assert ledger.clean, ledger.summary()


@pytest.mark.parametrize(("user", "kind"), FORGERIES)
def test_the_broker_refuses_an_event_published_by_anyone_but_its_owner(
    broker: PrivateBroker, namespace: str, spy: Any, user: str, kind: str
) -> None:
    body, message_id = forged(kind)
    connection = connect_as(broker, user)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            content_type=CONTENT_TYPE, message_id=message_id, type=kind
        )
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            channel.basic_publish(Topology(namespace).events, kind, body, properties)
    finally:
        connection.close()
    assert refused.value.reply_code == 403
    assert f"ACCESS_REFUSED - access to topic '{kind}'" in refused.value.reply_text
    assert f"refused for user '{user}'" in refused.value.reply_text
    assert (kind, message_id) not in seen(spy)  # it never reached any queue


def test_what_an_owner_publishes_does_get_through(
    broker: PrivateBroker, namespace: str, spy: Any
) -> None:
    """The control for the test above: the same publish as the owner is routed (to the spy
    only: a ping key that no service consumes stands in for a real command)."""
    ping = f"loadgen.ping.{uuid.uuid4().hex[:12]}"
    connection = connect_as(broker, rabbit_users.CLIENT)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            Topology(namespace).events, ping, b"{}", pika.BasicProperties(message_id="ping")
        )
    finally:
        connection.close()
    wait_until(lambda: (ping, "ping") in seen(spy), what="the client's own publish")


@pytest.mark.parametrize(
    "attempt",
    [
        lambda ch, names: ch.exchange_delete(names.events),
        lambda ch, names: ch.exchange_declare(names.events, "topic", durable=True),
        lambda ch, names: ch.queue_purge(names.queue("payment")),
        lambda ch, names: ch.basic_get(names.queue("order")),
        lambda ch, names: ch.basic_publish("", names.queue("order"), b"{}"),
    ],
    ids=["delete-exchange", "redeclare-exchange", "purge-queue", "read-queue", "default-exchange"],
)
def test_a_client_cannot_touch_the_services_topology(
    broker: PrivateBroker, namespace: str, stack: Stack, attempt: Any
) -> None:
    connection = connect_as(broker, rabbit_users.CLIENT)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
            attempt(channel, Topology(namespace))
    finally:
        connection.close()


def test_a_service_cannot_read_a_dead_letter_queue(
    broker: PrivateBroker, namespace: str, stack: Stack
) -> None:
    """Only the operator lists and replays dead letters (`orderflow dlq`)."""
    connection = connect_as(broker, "inventory")
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="ACCESS_REFUSED"):
            connection.channel().basic_get(Topology(namespace).dlq("payment"))
    finally:
        connection.close()


def test_a_service_may_forward_retries_and_dead_letters(
    broker: PrivateBroker, namespace: str, stack: Stack
) -> None:
    """What the consumers publish besides events: a poison command is dead-lettered by the
    order service itself (a publish on the DLX as `order`), and a retry copy goes through the
    default exchange (checked on a queue name that routes nowhere, so nothing is disturbed)."""
    names = Topology(namespace)
    before = len(rabbit_admin.dead_letters(broker.url, names)["order"])
    with BrokerOrderClient(broker.url, namespace) as client:
        client.publish_raw(b"not json", ev.ORDER_PLACE, "poison-1", "poison-1")
    wait_until(
        lambda: len(rabbit_admin.dead_letters(broker.url, names)["order"]) == before + 1,
        what="order to dead-letter the poison command",
    )
    connection = connect_as(broker, "order")
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", f"{namespace}.order.retry.none", b"{}")  # confirmed: allowed
    finally:
        connection.close()


def test_orderflow_dlq_reads_as_admin_and_says_when_a_client_is_refused(
    broker: PrivateBroker, namespace: str, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    names = Topology(namespace)
    with rabbit_admin.channel(broker.url) as channel:  # a dead letter in payment's DLQ
        channel.confirm_delivery()
        channel.basic_publish(names.dlx, "payment", b"poison", pika.BasicProperties(type="x.y"))
    wait_until(lambda: len(rabbit_admin.dead_letters(broker.url, names)["payment"]) == 1)
    args = ["dlq", "--namespace", namespace, "--url"]
    assert orderflow([*args, broker.url]) == 0  # no user in the URL: the operator, `admin`
    assert "payment: 1 dead letter(s)" in capsys.readouterr().out
    client_url = rabbit_users.as_user(broker.url, rabbit_users.CLIENT)
    assert orderflow([*args, client_url]) == 1
    shown = capsys.readouterr().out
    assert "orderflow dlq: the broker refused it: ACCESS_REFUSED" in shown
    assert "orderflow-client-dev" not in shown


def test_the_definitions_file_is_the_one_the_node_loaded(broker: PrivateBroker) -> None:
    listed = broker.rabbitmqctl("list_users", "--quiet", "--no-table-headers")
    users = {line.split()[0] for line in listed.splitlines() if line.strip()}
    assert users == set(rabbit_users.IDENTITIES)
    assert Path(broker.data_dir / "definitions.json").is_file()


def test_orderflow_up_connects_each_service_as_its_own_user(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    """`orderflow up` as a user runs it against `orderflow broker`'s node: the URL it prints
    names no user, and the default namespace is the one the definitions grant."""
    ports = iter(free_ports(2 * len(SERVICES)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    env.update(ORDERFLOW_DATA_DIR=str(tmp_path), ORDERFLOW_BROKER_URL=broker.url)
    env.update(
        {port_variable(s, kind): str(next(ports)) for s in SERVICES for kind in ("http", "grpc")}
    )
    out = tmp_path / "up.out"
    with out.open("wb") as sink:
        up = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "up", "--only", "payment"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: READY_LINE in out.read_text() or up.poll() is not None, 60, "up")
        assert READY_LINE in out.read_text(), out.read_text()
        assert "each service connects to the broker as its own user" in out.read_text()
        assert GUEST_WARNING not in out.read_text()
        wait_until(lambda: "payment" in _connected_users(broker), what="payment to connect")
    finally:
        up.send_signal(signal.SIGTERM)
        code = up.wait(timeout=30)
    assert code == 0, out.read_text()
    rabbit_admin.delete_topology(broker.url, Topology())  # the default namespace: leave it clean


def _connected_users(broker: PrivateBroker) -> set[str]:
    listed = broker.rabbitmqctl("list_connections", "--quiet", "--no-table-headers", "user")
    return {line.strip() for line in listed.splitlines() if line.strip()}
