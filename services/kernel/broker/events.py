"""CloudEvents 1.0 in structured JSON mode: the envelope of every message on the broker.

Each event also maps onto AMQP properties (message_id, correlation_id, type) so that the
RabbitMQ UI and tools that never parse the body still show what a message is and whose it is.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONTENT_TYPE: Final = "application/cloudevents+json"
SPEC_VERSION: Final = "1.0"


class InvalidEvent(Exception):
    """A message that is not a valid event: it can never be processed, so it is dead-lettered."""


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1, max_length=128)
    time: str
    subject: str | None = Field(default=None, max_length=128)
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str = Field(min_length=1, max_length=128)
    data: dict[str, Any]

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


def new_event(
    type_: str, source: str, data: dict[str, Any], correlation_id: str, subject: str | None = None
) -> CloudEvent:
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=source,
        type=type_,
        time=datetime.now(UTC).isoformat(timespec="milliseconds"),
        subject=subject,
        correlationid=correlation_id,
        data=data,
    )


def decode(body: bytes) -> CloudEvent:
    """Parse and validate an envelope; raises InvalidEvent naming what is wrong."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as error:
        # ValueError covers bad UTF-8, bad JSON and over-long integers; RecursionError, deep
        # nesting. Each is poison, never a reason to crash or to try again.
        raise InvalidEvent(f"body is not JSON: {type(error).__name__}: {error}"[:300]) from None
    if not isinstance(raw, dict):
        raise InvalidEvent("body is not a JSON object")
    try:
        return CloudEvent.model_validate(raw)
    except ValidationError as error:
        raise InvalidEvent(f"not a CloudEvent: {_first_error(error)}") from None


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"
