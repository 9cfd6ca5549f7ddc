"""Turns deliveries into use-case calls: decode, validate, dispatch, and decide what happens
to a message that could not be handled.

- Poison (not a valid CloudEvent in either content mode of the AMQP binding, see binding.py;
  a type this service does not handle; data that fails its schema; a request the domain
  refuses as invalid): published to the DLX with the reason in its headers,
  then acknowledged. It never crashes the consumer and never blocks the queue.
- Anything else that fails (a locked database, a bug) is transient until proven otherwise: the
  message goes to the next TTL retry queue and comes back after its delay; after the last
  attempt it is dead-lettered with the last error as its reason.

Each service's api/amqp.py maps event types to use cases (reactions.py); the use case's unit of
work records the message id in the same transaction as its effect (unit_of_work.py), which
makes redeliveries and duplicates harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import pika
from opentelemetry.trace import SpanKind
from prometheus_client import Counter

from services.kernel import correlation, tracing
from services.kernel.broker.binding import decode_message
from services.kernel.broker.events import CloudEvent, InvalidEvent
from services.kernel.broker.link import BrokerLink, Delivery
from services.kernel.broker.topology import Topology
from services.kernel.errors import DomainError
from services.kernel.telemetry import Telemetry

log = logging.getLogger(__name__)

UseCase = Callable[[CloudEvent], Awaitable[None]]

ATTEMPTS: Final = "x-orderflow-attempts"
REASON: Final = "x-orderflow-reason"
ORIGINAL_KEY: Final = "x-orderflow-routing-key"
MAX_REASON: Final = 500


class EventConsumer:
    def __init__(
        self,
        service: str,
        topology: Topology,
        routes: Mapping[str, UseCase],
        telemetry: Telemetry,
    ) -> None:
        self._service = service
        self._topology = topology
        self._routes = routes
        self._link: BrokerLink | None = None
        self._outcomes: Counter = telemetry.counter(
            "orderflow_broker_consumed",
            "Deliveries handled, by event type and outcome.",
            ["type", "outcome"],
        )

    def attach(self, link: BrokerLink) -> None:
        """The link that delivers to this consumer is also how it retries and dead-letters."""
        self._link = link

    async def __call__(self, delivery: Delivery) -> None:
        attempts = _attempts_so_far(delivery.headers) + 1
        try:
            event = decode_message(
                delivery.body, delivery.properties.content_type, delivery.headers
            )
        except InvalidEvent as error:
            await self._dead_letter(delivery, attempts, str(error), "?")
            return
        use_case = self._routes.get(event.type)
        if use_case is None:
            reason = f"{self._service} does not handle events of type {event.type!r}"
            await self._dead_letter(delivery, attempts, reason, event.type)
            return
        correlation.set_current(event.correlationid)
        # A child of the context the event was written in (CloudEvents Distributed Tracing);
        # an event without one starts a trace of its own.
        parent = tracing.parent(event.traceparent, event.tracestate) or tracing.root()
        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.message.id": event.id,
            # What `orderflow trace` finds a broker order's trace by (the client's own id).
            "orderflow.correlation": event.correlationid,
        }
        with tracing.span(
            f"process {event.type}", SpanKind.CONSUMER, parent_context=parent, attributes=attributes
        ):
            await self._handle(use_case, event, delivery, attempts)

    async def _handle(
        self, use_case: UseCase, event: CloudEvent, delivery: Delivery, attempts: int
    ) -> None:
        try:
            await use_case(event)
        except (InvalidEvent, DomainError) as error:
            await self._dead_letter(
                delivery, attempts, f"{type(error).__name__}: {error}", event.type
            )
        except Exception as error:
            await self._retry(delivery, attempts, repr(error), event.type)
        else:
            self._outcomes.labels(event.type, "handled").inc()

    async def _retry(self, delivery: Delivery, attempts: int, reason: str, type_: str) -> None:
        if attempts >= self._topology.max_attempts:
            reason = f"gave up after {attempts} attempts: {reason}"
            await self._dead_letter(delivery, attempts, reason, type_)
            return
        log.warning("%s will be retried (attempt %d failed): %s", type_, attempts, reason)
        queue = self._topology.retry_queue(self._service, attempts)
        headers = {
            ATTEMPTS: attempts,
            REASON: reason[:MAX_REASON],
            ORIGINAL_KEY: _original_key(delivery),
        }
        await self._forward("", queue, delivery, headers)
        self._outcomes.labels(type_, "retried").inc()

    async def _dead_letter(
        self, delivery: Delivery, attempts: int, reason: str, type_: str
    ) -> None:
        log.error("dead-lettering a %s message: %s", type_, reason)
        headers = {
            ATTEMPTS: attempts,
            REASON: reason[:MAX_REASON],
            ORIGINAL_KEY: _original_key(delivery),
        }
        await self._forward(self._topology.dlx, self._service, delivery, headers)
        self._outcomes.labels(type_, "dead-lettered").inc()

    async def _forward(
        self, exchange: str, routing_key: str, delivery: Delivery, headers: dict[str, Any]
    ) -> None:
        """Publish a copy (confirmed) before the original is acked: a crash in between leaves
        a duplicate, which the idempotent consumer drops, never a loss."""
        assert self._link is not None, "attach() the link first"
        original = delivery.properties
        properties = pika.BasicProperties(
            content_type=original.content_type,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=original.message_id,
            correlation_id=original.correlation_id,
            type=original.type,
            headers={**(original.headers or {}), **headers},
        )
        await self._link.publish(exchange, routing_key, delivery.body, properties)


def _attempts_so_far(headers: Mapping[str, Any]) -> int:
    """The attempts header as this consumer wrote it; anything else (a client's guess, a bad
    type) counts as none, so a message can never dodge or jump its retries by lying."""
    value = headers.get(ATTEMPTS, 0)
    return value if isinstance(value, int) and 0 <= value < 1000 else 0


def _original_key(delivery: Delivery) -> str:
    """The routing key the message was first published with (a retry hop arrives with the
    retry queue's dead-letter key instead)."""
    original = delivery.headers.get(ORIGINAL_KEY)
    if isinstance(original, bytes):
        original = original.decode("utf-8", "replace")
    return original if isinstance(original, str) and original else delivery.routing_key
