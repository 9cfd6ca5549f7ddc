"""An in-memory fake of the kernel's unit of work port, for use-case tests without a broker or
an outbox: it keeps the inbox and the emitted events as the real one would on commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from services.kernel.broker.catalogue import EventData
from services.kernel.broker.unit_of_work import Outgoing, Received, check_pairing


@dataclass
class FakeMessages:
    """The inbox and outbox that every unit of work of one fake service commits into."""

    handled: set[str] = field(default_factory=set)
    emitted: list[Outgoing] = field(default_factory=list)

    def unit(self, message_id: str = "m-1", type_: str = "test", corr: str = "c-1") -> FakeUoW:
        return FakeUoW(self, Received(message_id, type_, corr))


class FakeUoW:
    def __init__(self, messages: FakeMessages, message: Received) -> None:
        self._messages = messages
        self._message = message
        self._pending: list[Outgoing] = []
        self._handled = False
        self.committed = False

    @property
    def message(self) -> Received:
        return self._message

    @property
    def already_handled(self) -> bool:
        return self._handled

    def __enter__(self) -> Self:
        self._handled = self._message.id in self._messages.handled
        self._pending = []
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None and not self._handled:
            self._messages.handled.add(self._message.id)
            self._messages.emitted.extend(self._pending)
            self.committed = True
        self._pending = []

    def emit(
        self,
        type_: str,
        data: EventData,
        *,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> None:
        check_pairing(type_, data)
        self._pending.append(Outgoing(type_, data, correlation_id, event_id))
