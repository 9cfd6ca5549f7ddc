"""Names and declarations of the RabbitMQ topology, under a namespace prefix.

    {ns}.events   topic exchange, durable: every event, routed by its type (`order.placed`, ...)
    {ns}.<svc>    one durable queue per consuming service, bound to the types it reacts to;
                  anything rejected from it dead-letters to {ns}.dlx with routing key <svc>
    {ns}.<svc>.retry.<n>   TTL queues: a message that failed for a transient reason waits here
                  delays[n] ms, then dead-letters back to {ns}.<svc> (only that service retries)
    {ns}.dlx      direct exchange for poison messages; {ns}.<svc>.dlq bound with key <svc>

Every service declares the whole topology (declarations are idempotent), so an event is never
published before the queue of a consumer that has not started yet exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from services.kernel.broker import catalogue as ev

SUBSCRIPTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "order": (
        ev.ORDER_PLACE,
        ev.INVENTORY_RESERVED,
        ev.INVENTORY_REJECTED,
        ev.PAYMENT_CHARGED,
        ev.INVENTORY_RELEASED,
    ),
    "inventory": (ev.ORDER_PLACED, ev.PAYMENT_DECLINED, ev.ORDER_VOIDED),
    "payment": (ev.INVENTORY_RESERVED, ev.ORDER_VOIDED),
    "notification": ev.TERMINAL,
}
DEFAULT_RETRY_DELAYS_MS: Final = (1000, 5000, 20000)


@dataclass(frozen=True)
class Topology:
    namespace: str = "orderflow"
    retry_delays_ms: tuple[int, ...] = DEFAULT_RETRY_DELAYS_MS
    subscriptions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: SUBSCRIPTIONS)

    @property
    def events(self) -> str:
        return f"{self.namespace}.events"

    @property
    def dlx(self) -> str:
        return f"{self.namespace}.dlx"

    def queue(self, service: str) -> str:
        return f"{self.namespace}.{service}"

    def retry_queue(self, service: str, attempt: int) -> str:
        """Where a delivery that failed `attempt` times (1-based) waits before its next try."""
        return f"{self.namespace}.{service}.retry.{attempt}"

    def dlq(self, service: str) -> str:
        return f"{self.namespace}.{service}.dlq"

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays_ms) + 1

    def queues(self) -> list[str]:
        """Every queue of the topology (for tools that list or purge them)."""
        names: list[str] = []
        for service in self.subscriptions:
            names.append(self.queue(service))
            names.extend(self.retry_queue(service, n + 1) for n in range(len(self.retry_delays_ms)))
            names.append(self.dlq(service))
        return names

    def declarations(self) -> list[Declaration]:
        """What to declare, in order: exchanges, then queues with their bindings."""
        plan: list[Declaration] = [
            Exchange(self.events, "topic"),
            Exchange(self.dlx, "direct"),
        ]
        for service, types in self.subscriptions.items():
            main = self.queue(service)
            dead_letter = {"x-dead-letter-exchange": self.dlx, "x-dead-letter-routing-key": service}
            plan.append(Queue(main, dead_letter, tuple((self.events, t) for t in types)))
            for index, delay in enumerate(self.retry_delays_ms):
                back = {
                    "x-message-ttl": delay,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": main,
                }
                plan.append(Queue(self.retry_queue(service, index + 1), back, ()))
            plan.append(Queue(self.dlq(service), {}, ((self.dlx, service),)))
        return plan


@dataclass(frozen=True)
class Exchange:
    name: str
    kind: str


@dataclass(frozen=True)
class Queue:
    name: str
    arguments: Mapping[str, object]
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)


Declaration = Exchange | Queue
