"""The unit of work of a reaction to a message (the cosmicpython pattern, with an inbox).

A use case reacting to an event runs inside one unit of work: its effect on the store, the
record that this message was handled (inbox) and the events it answers with (outbox) commit
together, or none of them does. A message already handled is a no-op: the use case sees it
(`already_handled`) and returns, and whatever it did anyway is rolled back.

The use case knows the message only as `Received` (id, type, correlation id) and emits typed
catalogue events; they become CloudEvents here, in one place (`to_cloudevent`), on commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from services.kernel.broker.catalogue import SCHEMAS, EventData, OrderFinished
from services.kernel.broker.events import CloudEvent, new_event
from services.kernel.broker.outbox import Messages


@dataclass(frozen=True)
class Received:
    """The message a use case reacts to, as far as the use case needs to know it."""

    id: str
    type: str
    correlation_id: str


@dataclass(frozen=True)
class Outgoing:
    """An event to emit on commit. `correlation_id` defaults to the received message's (the
    saga's); `event_id` is set when every copy of an event must be the same one."""

    type: str
    data: EventData
    correlation_id: str | None = None
    event_id: str | None = None


class UnitOfWork(Protocol):
    """What a reaction's use case sees of its unit of work (the port its fakes implement)."""

    @property
    def message(self) -> Received: ...

    @property
    def already_handled(self) -> bool: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def emit(
        self,
        type_: str,
        data: EventData,
        *,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> None: ...


class StoreUnitOfWork:
    """The unit of work on a service's store: one BEGIN ... COMMIT on the database that the
    store and its `Messages` share, with no `await` inside. On PostgreSQL, two replicas
    handling copies of one message at once both find it unseen; the inbox's primary key lets
    one commit and fails the other, whose message is then redelivered and found handled."""

    def __init__(self, messages: Messages, message: Received) -> None:
        self._messages = messages
        self._message = message
        self._outgoing: list[Outgoing] = []
        self._handled = False

    @property
    def message(self) -> Received:
        return self._message

    @property
    def already_handled(self) -> bool:
        return self._handled

    def __enter__(self) -> Self:
        database = self._messages.database
        database.begin()
        try:
            self._handled = self._messages.seen(self._message.id)
        except BaseException:
            database.rollback()  # __exit__ is not called when __enter__ fails
            raise
        self._outgoing = []
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        database = self._messages.database
        try:
            if error is None and not self._handled:
                self._messages.record(self._message.id, self._message.type)
                for outgoing in self._outgoing:
                    self._messages.emit(to_cloudevent(outgoing, self._message.correlation_id))
                database.commit()
        finally:
            # Also when the COMMIT itself failed: never leave the shared connection inside a
            # transaction, or every later BEGIN would fail.
            self._outgoing = []
            if database.in_transaction:
                database.rollback()

    def emit(
        self,
        type_: str,
        data: EventData,
        *,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> None:
        check_pairing(type_, data)
        self._outgoing.append(Outgoing(type_, data, correlation_id, event_id))


def check_pairing(type_: str, data: EventData) -> None:
    """An event type carries the catalogue's data model for it, nothing else."""
    if SCHEMAS.get(type_) is not type(data):
        raise TypeError(f"{type_!r} does not carry {type(data).__name__}")


def to_cloudevent(outgoing: Outgoing, cause_correlation_id: str) -> CloudEvent:
    """The one place where a typed event becomes a CloudEvent: published by the service the
    type names (`inventory.reserved` comes from inventory), about the order it carries, under
    the saga's correlation id. Fields left to their schema default are left out, as the
    consumers' schemas fill them in."""
    data = outgoing.data.model_dump(mode="json", exclude_unset=True)
    event = new_event(
        outgoing.type,
        source=f"orderflow/{outgoing.type.split('.')[0]}",
        data=data,
        correlation_id=outgoing.correlation_id or cause_correlation_id,
        subject=subject_of(outgoing.data),
    )
    if outgoing.event_id is None:
        return event
    return event.model_copy(update={"id": outgoing.event_id})


def subject_of(data: EventData) -> str | None:
    """The order an event is about: its `order_id`, or the id of the order it carries."""
    if isinstance(data, OrderFinished):
        return data.order.id
    order_id = getattr(data, "order_id", None)
    return order_id if isinstance(order_id, str) else None


def derived_id(order_id: str, type_: str) -> str:
    """An event id that is the same however often the event is emitted for this order."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"orderflow:{order_id}:{type_}"))
