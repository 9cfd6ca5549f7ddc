"""Broker: two ways for a client to place an order in the choreographed style.

`BrokerUser` (the style `broker`) places through the asynchronous HTTP front, as a shop would
(front.py: 202, then the status stream); its client holds no broker credentials.
`BrokerAmqpUser` (the variant `broker-amqp`) publishes the `order.place` command to RabbitMQ with
publisher confirms (`place_order` is timed to the broker's confirm: the command is accepted),
and the order completes when the terminal event correlated to it comes back
(`order_completed`).

Each AMQP user publishes on a pika BlockingConnection of its own; each load-generator process
has one listener for the terminal events, in a thread (a greenlet under gevent), that hands every
event to the user waiting for its correlation id. Its queue is durable and expires only when
unused for a while, so events that arrive while the listener reconnects wait for it.

The choreography carries commands and events, not queries, so both browse the catalog and look
orders up over HTTP (inventory's and order's REST); those rows are reported under the broker
style so the five styles stay comparable, and the docs say so. The no-op (`noop`) of both is a
round trip through the broker (publish with a confirm, consume it back): the calibration
measures the transport the choreography's hops use, whichever way the client places.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import pika
import pika.exceptions

from harness.load.mix import OrderPlan
from harness.load.styles.front import AsyncFrontUser
from harness.load.styles.http import TIMEOUT_S, HttpStyleUser
from harness.rabbit import users as rabbit_users
from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import CONTENT_TYPE, decode, new_event
from services.kernel.broker.topology import Topology

QUEUE_EXPIRES_MS: Final = 120_000
RECONNECT_S: Final = 1.0


@dataclass
class Waiter:
    arrived: threading.Event = field(default_factory=threading.Event)
    at: float = 0.0
    body: bytes = b""


class TerminalEvents:
    """This process's listener: terminal order events (and its own pings), by correlation id."""

    def __init__(self, url: str, namespace: str) -> None:
        self._parameters = pika.URLParameters(client_url(url))
        self._topology = Topology(namespace)
        self._queue = f"{namespace}.loadgen.{uuid.uuid4().hex[:12]}"
        self.ping_key = f"loadgen.ping.{uuid.uuid4().hex[:12]}"
        self._waiting: dict[str, Waiter] = {}
        self._ready = threading.Event()
        threading.Thread(target=self._run, name="terminal-events", daemon=True).start()

    def expect(self, correlation_id: str) -> Waiter:
        """Register before publishing, so an early answer is not missed."""
        if not self._ready.wait(TIMEOUT_S):
            raise TimeoutError("the terminal-event listener is not connected to the broker")
        waiter = self._waiting[correlation_id] = Waiter()
        return waiter

    def forget(self, correlation_id: str) -> None:
        self._waiting.pop(correlation_id, None)

    def _run(self) -> None:
        while True:
            try:
                self._consume()
            except (pika.exceptions.AMQPError, OSError):
                self._ready.clear()
                time.sleep(RECONNECT_S)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(self._parameters)
        channel = connection.channel()
        arguments = {"x-expires": QUEUE_EXPIRES_MS}
        channel.queue_declare(self._queue, durable=True, arguments=arguments)
        for key in (*ev.TERMINAL, self.ping_key):
            channel.queue_bind(self._queue, self._topology.events, routing_key=key)
        channel.basic_consume(self._queue, self._arrived, auto_ack=True)
        self._ready.set()
        channel.start_consuming()

    def _arrived(self, _channel: Any, _method: Any, properties: Any, body: bytes) -> None:
        waiter = self._waiting.pop(properties.correlation_id or "", None)
        if waiter is not None:  # otherwise another process's order, or one given up on
            waiter.at, waiter.body = time.time(), body
            waiter.arrived.set()


def client_url(url: str) -> str:
    """A URL without a user connects as the project's `client` user, as any client does."""
    return rabbit_users.resolve(url, rabbit_users.CLIENT)


_LISTENERS: dict[tuple[str, str], TerminalEvents] = {}
_LISTENERS_LOCK = threading.Lock()


def listener(url: str, namespace: str) -> TerminalEvents:
    with _LISTENERS_LOCK:
        if (url, namespace) not in _LISTENERS:
            _LISTENERS[(url, namespace)] = TerminalEvents(url, namespace)
        return _LISTENERS[(url, namespace)]


class AmqpUser(HttpStyleUser):
    """What both broker users share: reads over REST, and the AMQP round trip (the no-op)."""

    abstract = True
    # Start this process's listener with the user, so that connecting it is not timed as the
    # first answer. A user that never waits for a terminal event (the front's shopper) leaves
    # it off: it would only add an idle consumer's CPU to the load generator's.
    listens: ClassVar[bool] = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._topology = Topology(self.targets.namespace)
        self._connection: Any = None
        self._channel: Any = None
        if self.listens:
            listener(self.targets.broker_url, self.targets.namespace)

    @property
    def _events(self) -> TerminalEvents:
        """This process's listener, started by the first user that needs it."""
        return listener(self.targets.broker_url, self.targets.namespace)

    def on_stop(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()

    def browse_catalog(self) -> None:
        self.rest_browse_catalog()  # queries go over HTTP: see the module's docstring

    def get_order(self, order_id: str) -> None:
        self.rest_get_order(order_id)

    def noop(self) -> None:
        correlation_id = str(uuid.uuid4())
        with self.reporter.measure("noop", self.started()) as measured:
            waiter = self._publish_expecting(self._events.ping_key, b"{}", correlation_id)
            measured.ended = self._wait(waiter, correlation_id)

    def _publish_expecting(self, routing_key: str, body: bytes, correlation_id: str) -> Waiter:
        """Publish, having registered for the answer first (so an early one is not missed)."""
        waiter = self._events.expect(correlation_id)
        try:
            self._publish(routing_key, body, correlation_id)
        except Exception:
            self._events.forget(correlation_id)
            raise
        return waiter

    def _publish(self, routing_key: str, body: bytes, correlation_id: str) -> None:
        """Publish and wait for the broker's confirm (pika raises if it is refused)."""
        properties = pika.BasicProperties(
            content_type=CONTENT_TYPE,
            delivery_mode=pika.DeliveryMode.Persistent,
            correlation_id=correlation_id,
            type=routing_key,
        )
        try:
            self._open_channel().basic_publish(
                self._topology.events, routing_key, body, properties, mandatory=True
            )
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, OSError):
            self._connection = self._channel = None  # reconnect for the next task
            raise

    def _open_channel(self) -> Any:
        if self._channel is None or not self._channel.is_open:
            parameters = pika.URLParameters(client_url(self.targets.broker_url))
            # Idle between tasks, a blocking connection answers no heartbeats: without them the
            # broker would drop it after a quiet minute. A dead broker still fails the publish.
            parameters.heartbeat = 0
            self._connection = pika.BlockingConnection(parameters)
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def _wait(self, waiter: Waiter, correlation_id: str) -> float:
        """When the answer arrived (the listener notes it, before this user wakes up)."""
        if not waiter.arrived.wait(TIMEOUT_S):
            self._events.forget(correlation_id)
            raise TimeoutError(f"no terminal event within {TIMEOUT_S:.0f} s")
        return waiter.at


class BrokerUser(AsyncFrontUser, AmqpUser):
    """The broker style: places through the asynchronous HTTP front (front.py)."""

    abstract = True
    style = "broker"
    listens = False  # its no-op starts the listener; BrokerPing starts it with the user


class BrokerAmqpUser(AmqpUser):
    """The `broker-amqp` variant: the order.place command on the broker, the terminal event."""

    abstract = True
    style = "broker-amqp"

    def place_order(self, plan: OrderPlan) -> str:
        started, correlation_id = self.started(), str(uuid.uuid4())
        with self.reporter.measure("place_order", started) as measured:
            event = new_event(ev.ORDER_PLACE, "orderflow/loadgen", plan.request, correlation_id)
            body = event.encode()
            waiter = self._publish_expecting(ev.ORDER_PLACE, body, correlation_id)
            measured.length = len(body)
        with self.reporter.measure("order_completed", started, plan.accepted) as measured:
            measured.ended = self._wait(waiter, correlation_id)
            answer = decode(waiter.body).data["order"]
            plan.check(answer["status"], answer["reason"])
            return str(answer["id"])
