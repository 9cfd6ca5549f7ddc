"""CloudEvents 1.0: the envelope of every message on the broker, and its JSON event format.

What is accepted is what the spec allows, so that a client written from the spec alone works:
- the required attributes `specversion` ("1.0"), `id`, `source`, `type`; the optional `time`
  (RFC 3339), `subject`, `datacontenttype`, `dataschema`; a JSON `null` counts as absent;
- extension attributes: `correlationid` is the project's (without it, the event's own `id`
  stands in); `traceparent` and `tracestate` (the Distributed Tracing extension) carry the W3C
  trace context the event was written in (kept when of a sane length, else ignored, as W3C
  says of a context one cannot read); any other must have a valid name and value, and is ignored;
- `data` (any JSON value) or `data_base64` (binary data), never both.
Only what breaks a rule of the spec is refused, with the rule in the reason. Lengths are bounded
(ids of 128 characters and so on) so that an untrusted event costs a bounded amount to handle.

Our producers write structured mode with `datacontenttype` application/json, and map each event
onto AMQP properties too (message_id, correlation_id, type; see outbox) so that the RabbitMQ UI
and tools that never parse the body still show what a message is and whose it is.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.kernel import tracing

CONTENT_TYPE: Final = "application/cloudevents+json"
JSON_DATA: Final = "application/json"
SPEC_VERSION: Final = "1.0"
REQUIRED: Final = ("specversion", "id", "source", "type")
OPTIONAL: Final = ("time", "subject", "datacontenttype", "dataschema")
CORRELATION: Final = "correlationid"  # the extension attribute the project adds
TRACING: Final = (tracing.TRACEPARENT, tracing.TRACESTATE)  # the Distributed Tracing extension
_NAME: Final = re.compile(r"[a-z0-9]+")  # attribute names: lower-case ASCII letters and digits
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)
_JSON_MEDIA: Final = re.compile(r"[^/;\s]+/([^/;\s]+\+)?json", re.IGNORECASE)
_INT32: Final = range(-(2**31), 2**31)  # the spec's Integer type


class InvalidEvent(Exception):
    """A message that is not a valid event: it can never be processed, so it is dead-lettered."""


class CloudEvent(BaseModel):
    """An event as the project reads it: the context attributes it knows, and its data."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1, max_length=128)
    time: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, min_length=1, max_length=256)
    datacontenttype: str | None = Field(default=None, min_length=1, max_length=256)
    dataschema: str | None = Field(default=None, min_length=1, max_length=2048)
    correlationid: str = Field(min_length=1, max_length=128)
    traceparent: str | None = Field(default=None, max_length=tracing.MAX_TRACEPARENT)
    tracestate: str | None = Field(default=None, max_length=tracing.MAX_TRACESTATE)
    data: Any = None  # a JSON value, or bytes (`data_base64`, or binary content mode)

    @field_validator("time")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is not None and not _is_rfc3339(value):
            raise ValueError("must be an RFC 3339 timestamp, e.g. 2018-04-05T17:31:00Z")
        return value

    @property
    def json_data(self) -> bool:
        """Whether `data` is JSON: the content type says so, or (JSON format) says nothing."""
        return is_json_media(self.datacontenttype) and not isinstance(self.data, bytes)

    def encode(self) -> bytes:
        """The JSON event format (structured content mode), as our producers publish it."""
        envelope = self.model_dump(exclude_none=True, exclude={"data"})
        if isinstance(self.data, bytes):
            envelope["data_base64"] = base64.b64encode(self.data).decode("ascii")
        elif self.data is not None:
            envelope["data"] = self.data
        return json.dumps(envelope, separators=(",", ":")).encode()


def new_event(
    type_: str, source: str, data: dict[str, Any], correlation_id: str, subject: str | None = None
) -> CloudEvent:
    return CloudEvent(
        specversion=SPEC_VERSION,
        id=str(uuid.uuid4()),
        source=source,
        type=type_,
        time=datetime.now(UTC).isoformat(timespec="milliseconds"),
        subject=subject,
        datacontenttype=JSON_DATA,
        correlationid=correlation_id,
        data=data,
        **tracing.carrier(),  # the context it is written in: its consumers' spans are children
    )


def decode(body: bytes) -> CloudEvent:
    """Parse and validate a JSON-format event; raises InvalidEvent naming what is wrong."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as error:
        # ValueError covers bad UTF-8, bad JSON and over-long integers; RecursionError, deep
        # nesting. Each is poison, never a reason to crash or to try again.
        raise InvalidEvent(f"body is not JSON: {type(error).__name__}: {error}"[:300]) from None
    if not isinstance(raw, dict):
        raise InvalidEvent("body is not a JSON object")
    if raw.get("data") is not None and raw.get("data_base64") is not None:
        raise InvalidEvent("not a CloudEvent: it has both data and data_base64")
    attributes = {k: v for k, v in raw.items() if k not in ("data", "data_base64")}
    return from_attributes(attributes, _data_of(raw))


def from_attributes(attributes: Mapping[str, object], data: object) -> CloudEvent:
    """Build an event from its context attributes, as either content mode carried them."""
    present = {name: value for name, value in attributes.items() if value is not None}
    missing = [name for name in REQUIRED if name not in present]
    if missing:
        raise InvalidEvent(f"not a CloudEvent: required attribute {missing[0]!r} is missing")
    for name, value in present.items():
        if name not in REQUIRED and name not in OPTIONAL:
            _check_extension(name, value)
    wanted: tuple[str, ...] = (*REQUIRED, *OPTIONAL, CORRELATION)
    known = {name: present[name] for name in wanted if name in present}
    known.setdefault(CORRELATION, present["id"])  # e.g. a command: answered under its own id
    known.update({name: present[name] for name in TRACING if _readable_trace(name, present)})
    try:
        return CloudEvent.model_validate({**known, "data": data})
    except ValidationError as error:
        raise InvalidEvent(f"not a CloudEvent: {_first_error(error)}") from None


def is_json_media(content_type: str | None) -> bool:
    """`*/json` or `*/*+json`, parameters aside; no content type means JSON (JSON format)."""
    return (
        content_type is None
        or _JSON_MEDIA.fullmatch(content_type.split(";")[0].strip()) is not None
    )


def _data_of(raw: Mapping[str, Any]) -> object:
    encoded = raw.get("data_base64")
    if encoded is None:
        return raw.get("data")
    if not isinstance(encoded, str):
        raise InvalidEvent("not a CloudEvent: data_base64 must be a string")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise InvalidEvent("not a CloudEvent: data_base64 is not Base64") from None


def _check_extension(name: str, value: object) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidEvent(
            f"not a CloudEvent: attribute name {name[:40]!r} must be lower-case letters and digits"
        )
    # datetime: a Timestamp in binary mode (an AMQP timestamp; JSON carries it as a string)
    if isinstance(value, bool | str | bytes | datetime):
        return
    if isinstance(value, int) and value in _INT32:
        return
    raise InvalidEvent(
        f"not a CloudEvent: attribute {name!r} must be a string, boolean, binary, 32-bit"
        " integer or timestamp"
    )


def _readable_trace(name: str, present: Mapping[str, object]) -> bool:
    return name in present and tracing.valid_header(name, present[name])


def _is_rfc3339(value: str) -> bool:
    if not _RFC3339.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace(" ", "T"))
    except ValueError:
        return False  # e.g. month 13 or hour 25
    return True


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"
