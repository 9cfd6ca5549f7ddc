"""The order's status stream (`GET /orders/{id}/events`, Server-Sent Events) as a client reads
it: a reader written from the WHATWG HTML spec alone ("9.2.6 Interpreting an event stream"), no
SSE library, as a client knowing only the spec; and what the events say about the order's
outcome, shared by the demo, the e2e tests and the Locust users (whose gevent transport reads
the same lines).

Lines end in CRLF, LF or CR; a line starting with ':' is a comment; `field: value` drops one
leading space of the value; `data` lines join with LF; an empty line dispatches the event (none
when no data was buffered); `id` sets the last event id (unless it contains NULL).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from harness.vocabulary import TERMINAL

ACCEPT: Final = {"Accept": "text/event-stream"}
Outcome = tuple[str, str | None]  # (status, reason) as the shared order document names them


@dataclass(frozen=True)
class Event:
    type: str
    data: str
    last_event_id: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class EventReader:
    """Events of one stream, in order; `comments` keeps every comment line seen."""

    last_event_id: str = ""
    comments: list[str] = field(default_factory=list)
    _type: str = ""
    _data: list[str] = field(default_factory=list)

    def read(self, response: httpx.Response) -> Iterator[Event]:
        for line in response.iter_lines():  # splits on CRLF, LF and CR, as the spec does
            event = self.feed(line)
            if event is not None:
                yield event

    def feed(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments.append(line[1:])
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        return None  # `retry` and unknown fields: nothing this client needs

    def _dispatch(self) -> Event | None:
        data, kind = self._data, self._type or "message"
        self._data, self._type = [], ""
        if not data:
            return None
        return Event(kind, "\n".join(data), self.last_event_id)


def events_path(location: str) -> str:
    """The stream of the order at `location` (the 202's Location, `/orders/{id}`)."""
    return f"{location}/events"


def parse(text: str) -> list[Event]:
    """The events of a whole stream's body (a stream that ended)."""
    reader = EventReader()
    events = (reader.feed(line) for line in [*text.splitlines(), ""])
    return [event for event in events if event is not None]


def outcome(events: Iterable[Event]) -> Outcome | None:
    """The order's final (status, reason) among a stream's events; None if it has not ended."""
    for event in events:
        if event.type != "status":
            continue
        change = event.json()
        if change["status"] in TERMINAL:
            return str(change["status"]), change["reason"]
    return None


def watch(
    http: httpx.Client, order_url: str, last_event_id: str | None = None
) -> tuple[list[Event], Outcome | None]:
    """Read `order_url`'s stream until it ends: its events, and the outcome they reached."""
    headers = {**ACCEPT, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    with http.stream("GET", events_path(order_url), headers=headers) as response:
        if response.status_code == 204:  # the client has the final status already
            return [], None
        response.raise_for_status()
        seen = list(EventReader(last_event_id or "").read(response))
    return seen, outcome(seen)
