"""A unit of work whose transaction is a span (`tracing.transaction`), whatever store runs it.

The reactions' transactions begin where the use case enters its unit of work (`with uow:`), so
the span wraps that, not the store: any unit of work (SQLite's, or another backend's) gets it.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self

from services.kernel import tracing
from services.kernel.broker.catalogue import EventData
from services.kernel.broker.unit_of_work import Received, UnitOfWork


class TracedUnitOfWork:
    """Delegates to `inner`; its transaction runs inside a span named `transaction <name>`."""

    def __init__(self, inner: UnitOfWork, name: str) -> None:
        self._inner = inner
        self._name = name
        self._open = contextlib.ExitStack()

    @property
    def message(self) -> Received:
        return self._inner.message

    @property
    def already_handled(self) -> bool:
        return self._inner.already_handled

    def __enter__(self) -> Self:
        with contextlib.ExitStack() as entering:  # a failed BEGIN ends the span too
            entering.enter_context(tracing.transaction(self._name))
            entering.enter_context(self._inner)
            self._open = entering.pop_all()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open.__exit__(kind, error, traceback)

    def emit(
        self,
        type_: str,
        data: EventData,
        *,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> None:
        self._inner.emit(type_, data, correlation_id=correlation_id, event_id=event_id)
