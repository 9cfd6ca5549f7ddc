"""A Server-Sent Events reader written from the WHATWG HTML spec alone ("9.2.6 Interpreting an
event stream"), over a plain httpx stream: no SSE library, as a client knowing only the spec.

Lines end in CRLF, LF or CR; a line starting with ':' is a comment; `field: value` drops one
leading space of the value; `data` lines join with LF; an empty line dispatches the event (none
when no data was buffered); `id` sets the last event id (unless it contains NULL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


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
