"""A client of the broker style: publish `order.place`, then wait for the order's terminal event.

The client chooses the command's correlation id; every event of that order's saga carries it,
so the client matches `order.confirmed` / `order.cancelled` / `order.rejected` by it. Blocking
pika, so it also serves the demo, the tests and (under gevent) the load harness.

A URL without a user connects as the project's `client` user, who may publish `order.place` and
nothing the services own. That user may not declare the events exchange either: the services
declare their topology, the client only checks that it is there.
"""

from __future__ import annotations

import time
import uuid
from types import TracebackType
from typing import Any, Self

import pika
import pika.exceptions

from harness.rabbit import users as rabbit_users
from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import (
    CONTENT_TYPE,
    CloudEvent,
    InvalidEvent,
    decode,
    new_event,
)
from services.kernel.broker.topology import Topology


class NoAnswer(TimeoutError):
    """No terminal event for a correlation id within the time allowed."""


class NoTopology(RuntimeError):
    """The namespace's events exchange does not exist: no service has declared it yet."""


class BrokerOrderClient:
    def __init__(self, url: str, namespace: str = "orderflow") -> None:
        self._url = rabbit_users.resolve(url, rabbit_users.CLIENT)
        self._topology = Topology(namespace)
        self._connection: Any = None
        self._channel: Any = None
        self._queue = ""
        self._answers: dict[str, CloudEvent] = {}
        self._waiting: set[str] = set()  # every client's answers reach this queue: keep ours

    def __enter__(self) -> Self:
        self._connection = pika.BlockingConnection(pika.URLParameters(self._url))
        channel = self._connection.channel()
        channel.confirm_delivery()
        try:
            channel.exchange_declare(self._topology.events, passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            self._connection.close()
            raise NoTopology(
                f"no exchange {self._topology.events} on the broker ({error.reply_text}):"
                " start the services first, they declare it"
            ) from error
        self._queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        for kind in ev.TERMINAL:
            channel.queue_bind(self._queue, self._topology.events, routing_key=kind)
        channel.basic_consume(self._queue, self._on_answer, auto_ack=True)
        self._channel = channel
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()

    def place(self, request: dict[str, Any], correlation_id: str | None = None) -> str:
        """Publish an order.place command (confirmed by the broker); returns its correlation id."""
        correlation_id = correlation_id or str(uuid.uuid4())
        event = new_event(ev.ORDER_PLACE, "orderflow/client", request, correlation_id)
        self.publish_raw(event.encode(), ev.ORDER_PLACE, event.id, correlation_id)
        return correlation_id

    def publish_raw(
        self, body: bytes, routing_key: str, message_id: str | None, correlation_id: str | None
    ) -> None:
        """Publish any bytes as if they were an event (for poison-message demos and tests)."""
        if correlation_id:
            self._waiting.add(correlation_id)
        properties = pika.BasicProperties(
            content_type=CONTENT_TYPE,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message_id,
            correlation_id=correlation_id,
            type=routing_key,
        )
        self._channel.basic_publish(
            self._topology.events, routing_key, body, properties, mandatory=True
        )

    def wait(self, correlation_id: str, timeout_s: float = 30.0) -> CloudEvent:
        """The terminal event of the order placed under `correlation_id`."""
        self._waiting.add(correlation_id)
        deadline = time.monotonic() + timeout_s
        while correlation_id not in self._answers:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoAnswer(f"no terminal event for {correlation_id} within {timeout_s}s")
            self._connection.process_data_events(time_limit=min(left, 0.5))
        self._waiting.discard(correlation_id)
        return self._answers.pop(correlation_id)

    def place_and_wait(self, request: dict[str, Any], timeout_s: float = 30.0) -> CloudEvent:
        return self.wait(self.place(request), timeout_s)

    def _on_answer(self, _channel: Any, _method: Any, _properties: Any, body: bytes) -> None:
        try:
            event = decode(body)
        except InvalidEvent:
            return  # not an answer: someone published junk under a terminal event's key
        if event.correlationid in self._waiting:
            self._answers[event.correlationid] = event
