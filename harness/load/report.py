"""Every style reports to Locust the same way: `request_type` is the style, `name` the operation,
and the latency runs from the moment the task was due (see pacing), not from when it began."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from locust.event import EventHook
from locust.exception import RescheduleTask


@dataclass
class Measured:
    """Filled in by the measured code: the size of what came back and, when the result came
    before the measured block ends (a push read earlier), when it came."""

    length: int = 0
    ended: float | None = None


class Reporter:
    def __init__(self, request_event: EventHook, style: str) -> None:
        self._request_event = request_event
        self.style = style

    @contextlib.contextmanager
    def measure(
        self, name: str, started: float, context: Mapping[str, str] | None = None
    ) -> Iterator[Measured]:
        """Report `name`, timed from `started` (epoch seconds). A failure is reported, then
        ends the task (RescheduleTask): the rest of the task made no sense without it.
        `context` goes with the report, to the listeners of Locust's request event."""
        measured = Measured()
        try:
            yield measured
        except RescheduleTask:
            raise
        except Exception as error:  # every failure of the system under load is a data point
            self.fire(name, started, measured.length, error, context=context)
            raise RescheduleTask() from error
        self.fire(name, started, measured.length, None, measured.ended, context)

    def fire(
        self,
        name: str,
        started: float,
        length: int,
        error: BaseException | None,
        ended: float | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        """Report one operation; `ended` defaults to now (pass it when the end was earlier)."""
        self._request_event.fire(
            request_type=self.style,
            name=name,
            response_time=((time.time() if ended is None else ended) - started) * 1000.0,
            response_length=length,
            exception=error,
            context=dict(context or {}),
            start_time=started,
            url=None,
            response=None,
        )


class Restyled:
    """Stands in for Locust's request event in its own HTTP session (FastHttpSession), so its
    rows carry the style instead of the HTTP method, and its latency runs from the due time."""

    def __init__(self, request_event: EventHook, style: str, due: Any) -> None:
        self._request_event = request_event
        self._style = style
        self._due = due  # a callable: the current task's due time, or None (closed model)

    def fire(self, **meta: Any) -> None:
        due = self._due()
        if due is not None and meta.get("start_time") is not None:
            meta["response_time"] += max(0.0, meta["start_time"] - due) * 1000.0
            meta["start_time"] = due
        meta["request_type"] = self._style
        self._request_event.fire(**meta)
