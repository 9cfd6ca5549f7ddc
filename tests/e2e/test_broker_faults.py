"""The broker style under faults, on a RabbitMQ node this test starts itself (never the
machine's): the broker going away mid-flow, and a consumer killed with SIGKILL mid-flow.
Whatever happens, once things are back every order accepted must end exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pika.exceptions
import pytest

from harness import audit
from harness.clients.broker import BrokerOrderClient
from harness.rabbit import admin as rabbit_admin
from harness.rabbit.node import PrivateBroker
from harness.stack.supervisor import Stack
from services.kernel.broker import catalogue as ev
from services.kernel.broker.topology import Topology
from tests.e2e.broker_helpers import client, consumed, request, urls, wait_until
from tests.e2e.conftest import broker_env, remove_topology, start_stack

ORDERS = 30
# Short retry delays: a consumer that fails while the broker is down retries within the test.
FAULT_ENV = {"ORDERFLOW_BROKER_RETRY_DELAYS_MS": "200,500,1000"}


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    with PrivateBroker(tmp_path_factory.mktemp("broker")) as broker:
        yield broker


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, private_broker: PrivateBroker
) -> Iterator[Stack]:
    env = {**broker_env(private_broker.amqp_url), **FAULT_ENV}
    running = start_stack(tmp_path_factory.mktemp("stack"), **env)
    with running:
        wait_until(lambda: _all_linked(running), what="every service to join the broker")
        yield running
    remove_topology(running)


def _all_linked(stack: Stack) -> bool:
    for service in ("order", "inventory", "payment", "notification"):
        metrics = httpx.get(f"{stack.url(service)}/metrics", timeout=10).text
        if "orderflow_broker_connected 1.0" not in metrics:
            return False
    return True


def ready(stack: Stack, service: str) -> int:
    """Messages in the service's queue not yet delivered to its consumer."""
    names = Topology(stack.config.extra_env["ORDERFLOW_BROKER_NAMESPACE"])
    with rabbit_admin.channel(stack.config.extra_env["ORDERFLOW_BROKER_URL"]) as ch:
        return int(ch.queue_declare(names.queue(service), passive=True).method.message_count)


def place_burst(stack: Stack, count: int) -> list[str]:
    """Publish `count` orders (each confirmed by the broker: accepted); return their customers."""
    bodies = [request() for _ in range(count)]
    with client(stack) as broker:
        for body in bodies:
            broker.place(body)
    return [body["customer_id"] for body in bodies]


class SteadyClient(threading.Thread):
    """A client placing an order every 50 ms until stopped, reconnecting whenever the broker is
    gone. An order is accepted once the broker confirmed its command; one whose publish failed
    midway is uncertain (it may or may not have reached the broker)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.attempted: list[str] = []
        self.accepted: list[str] = []
        self.refused = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with client(self.stack) as broker:
                    self._place_until_stopped(broker)
            except (pika.exceptions.AMQPError, OSError):
                self.refused += 1
                time.sleep(0.2)

    def _place_until_stopped(self, broker: BrokerOrderClient) -> None:
        while not self.stopping.is_set():
            body = request()
            self.attempted.append(body["customer_id"])
            broker.place(body)
            self.accepted.append(body["customer_id"])
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def test_a_broker_outage_while_orders_are_placed_loses_nothing_accepted(
    stack: Stack, private_broker: PrivateBroker
) -> None:
    books = audit.snapshot(urls(stack))
    placing = SteadyClient(stack)
    placing.start()
    wait_until(lambda: len(placing.accepted) >= ORDERS, what="orders accepted before the outage")
    private_broker.stop()  # sagas are mid-flight: events sit in queues and in outboxes
    time.sleep(2.0)  # the services keep working meanwhile: their outboxes fill
    private_broker.start()
    wait_until(lambda: _all_linked(stack), what="every service to reconnect")
    after = len(placing.accepted) + 10
    wait_until(lambda: len(placing.accepted) >= after, what="orders accepted after the outage")
    placing.stop()
    assert placing.refused >= 1, "the client never noticed the outage"
    ledger = audit.account(urls(stack), placing.attempted, books, grace_s=60)
    assert not set(ledger.missing) & set(placing.accepted), ledger.summary()  # none lost
    assert (ledger.duplicated, ledger.stuck, ledger.inconsistent) == (0, 0, 0), ledger.summary()
    assert ledger.outcomes["CONFIRMED/-"] >= len(placing.accepted)


def test_a_broker_crash_mid_flow_loses_nothing_confirmed(
    stack: Stack, private_broker: PrivateBroker
) -> None:
    """SIGKILL, not a clean stop: what the broker confirmed was on disk (durable queues,
    persistent messages), and what it had not confirmed is still in an outbox."""
    books = audit.snapshot(urls(stack))
    customers = place_burst(stack, ORDERS)
    private_broker.kill()
    time.sleep(1.0)
    private_broker.start()
    wait_until(lambda: _all_linked(stack), what="every service to reconnect")
    ledger = audit.account(urls(stack), customers, books, grace_s=60)
    assert ledger.clean, ledger.summary()
    assert ledger.outcomes["CONFIRMED/-"] == ORDERS


def test_a_consumer_killed_mid_flow_resumes_without_loss_or_double_effects(
    stack: Stack, private_broker: PrivateBroker
) -> None:
    books = audit.snapshot(urls(stack))
    bodies = [request(token="tok_visa" if n % 3 else "tok_chargeDeclined") for n in range(ORDERS)]
    placed_before = consumed(stack, "inventory", ev.ORDER_PLACED)
    with client(stack) as broker:
        stack.pause("payment")  # so that it holds deliveries it has not handled when it dies
        for body in bodies[:10]:
            broker.place(body)
        wait_until(
            lambda: consumed(stack, "inventory", ev.ORDER_PLACED) >= placed_before + 10,
            what="inventory to reserve the first ten",
        )
        wait_until(
            lambda: ready(stack, "payment") == 0,
            what="payment's deliveries to be on their way to it, unacknowledged",
        )
        stack.kill("payment")  # SIGKILL: deliveries in flight are neither acked nor lost
        for body in bodies[10:]:
            broker.place(body)
        stack.restart("payment")
        bodies.append(request())  # after the restart, a new order goes all the way through
        assert broker.wait(broker.place(bodies[-1]), timeout_s=60).type == ev.ORDER_CONFIRMED
    customers = [body["customer_id"] for body in bodies]
    ledger = audit.account(urls(stack), customers, books, grace_s=60)
    assert ledger.clean, ledger.summary()
    assert ledger.outcomes["CANCELLED/PAYMENT_DECLINED"] == ORDERS // 3


def test_the_private_broker_is_ours_and_the_machines_broker_is_untouched(
    private_broker: PrivateBroker, tmp_path: Path
) -> None:
    assert private_broker.amqp_port != 5672
    connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/"))
    assert connection.is_open
    connection.close()
