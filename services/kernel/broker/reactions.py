"""What every service's AMQP adapter does with an event it reacts to: parse its data into the
catalogue's typed model and call the use case with a unit of work for the message.

A service's `api/amqp.py` lists which event calls which use case; the consumer (consumer.py)
decodes the CloudEvent and dead-letters what cannot be handled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.kernel.broker.catalogue import EventData, data_of
from services.kernel.broker.consumer import UseCase
from services.kernel.broker.events import CloudEvent
from services.kernel.broker.outbox import Messages
from services.kernel.broker.traced_work import TracedUnitOfWork
from services.kernel.broker.unit_of_work import Received, StoreUnitOfWork, UnitOfWork
from services.kernel.database import rerun_while_busy

D = TypeVar("D", bound=EventData)
Reacting = Callable[[D, UnitOfWork], Awaitable[None]]


class Reactions:
    """Builds the consumer's use cases for one service, all on the store's `Messages`."""

    def __init__(self, messages: Messages) -> None:
        self._messages = messages

    def to(self, schema: type[D], use_case: Reacting[D]) -> UseCase:
        """The consumer's entry for events carrying `schema`: a field that does not match
        raises InvalidEvent (dead-lettered) before the use case is called."""

        async def react(event: CloudEvent) -> None:
            data = data_of(event, schema)
            received = Received(event.id, event.type, event.correlationid)

            async def attempt() -> None:
                work = StoreUnitOfWork(self._messages, received)
                await use_case(data, TracedUnitOfWork(work, _named(use_case)))

            # Met rows another replica holds: its unit of work rolled back; run it again here
            # after a pause rather than through the broker's retry queue (seconds).
            await rerun_while_busy(self._messages.database, attempt)

        return react


def _named(use_case: Callable[..., object]) -> str:
    """What a reaction does, for its transaction's span: its handler's qualified name."""
    return str(getattr(use_case, "__qualname__", "reaction"))
