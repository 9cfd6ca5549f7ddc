"""The CloudEvents AMQP protocol binding, as a RabbitMQ (AMQP 0-9-1) consumer receives it.

The binding is written for AMQP 1.0; RabbitMQ hands an AMQP 1.0 message's application-properties
to 0-9-1 consumers as headers of the same name, so the same mapping applies to headers here:

- structured content mode: the content type is `application/cloudevents+json` (parameters such
  as `charset` allowed) and the body is the JSON event format. Our producers publish this way.
- binary content mode (any other content type): the attributes are headers named with the
  binding's `cloudEvents:` prefix; the content type is `datacontenttype`; the body is `data`,
  parsed when the content type is JSON (`*/json`, `*/*+json`), kept as bytes otherwise (with
  no content type: parsed if it is JSON, as the SDKs leave the type out for JSON data).
  Also accepted, because the CloudEvents SDKs write them: `cloudEvents_` (the JMS-safe spelling
  of the Python SDK's AMQP binding) and `ce-` (the RabbitMQ binding of knative eventing, which the
  Python SDK implements for pika). Header values may be native (a timestamp for `time`, an
  integer, a boolean, bytes) or their canonical strings, as the binding requires; `time` may
  also be an integer of milliseconds since the epoch, as the Python SDK's AMQP binding writes it.
- neither a CloudEvents content type nor any prefixed header: the body is read as the JSON event
  format, as the project's clients always published (a valid event is never lost by this).

Any other event format (`application/cloudevents+avro`, a batch) is refused: JSON is the only one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from services.kernel.broker.events import (
    CONTENT_TYPE,
    CloudEvent,
    InvalidEvent,
    decode,
    from_attributes,
    is_json_media,
)
from services.kernel.broker.frames import UNREADABLE_PROPERTIES

PREFIXES: Final = ("cloudEvents:", "cloudEvents_", "ce-")
_FORMAT_PREFIX: Final = "application/cloudevents"


def decode_message(
    body: bytes, content_type: str | None, headers: Mapping[str, object]
) -> CloudEvent:
    """The event in a delivery, whichever content mode carried it; raises InvalidEvent."""
    unreadable = headers.get(UNREADABLE_PROPERTIES)
    if unreadable is not None:  # see frames.py: its properties were lost, so its mode is too
        raise InvalidEvent(f"the message is not readable: {unreadable}")
    media = (content_type or "").split(";")[0].strip().lower()
    if media.startswith(_FORMAT_PREFIX):
        if media != CONTENT_TYPE:
            raise InvalidEvent(f"event format {media[:80]!r} is not supported, only {CONTENT_TYPE}")
        return decode(body)
    attributes = _attributes(headers)
    if not attributes:
        return decode(body)
    if content_type:
        attributes["datacontenttype"] = content_type
    return from_attributes(attributes, _data(body, content_type))


def _attributes(headers: Mapping[str, object]) -> dict[str, object]:
    """The prefixed headers as attributes; the same attribute twice must agree."""
    found: dict[str, object] = {}
    for header, raw in headers.items():
        prefix = next((p for p in PREFIXES if header.startswith(p)), None)
        if prefix is None or raw is None:
            continue  # not an attribute (e.g. our own retry headers), or an unset one
        name = header[len(prefix) :]
        value = _timestamp(raw) if name == "time" else raw
        if found.get(name, value) != value:
            raise InvalidEvent(f"not a CloudEvent: attribute {name[:40]!r} has two values")
        found[name] = value
    return found


def _timestamp(value: object) -> object:
    """`time` as its RFC 3339 string: pika decodes an AMQP timestamp as a naive UTC datetime, and
    the Python SDK's AMQP binding writes milliseconds since the epoch as an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            value = datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidEvent(f"not a CloudEvent: time {value} ms is out of range") from None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.isoformat().replace("+00:00", "Z")
    return value


def _data(body: bytes, content_type: str | None) -> object:
    """The body as data: JSON when its content type says so; with no content type, JSON if it
    parses (the SDKs leave the type out for JSON data), opaque bytes otherwise."""
    if not body:
        return None
    if content_type and not is_json_media(content_type):
        return body
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        if not content_type:
            return body
        reason = f"data is not JSON though its content type is {content_type[:80]!r}: {error}"
        raise InvalidEvent(reason[:300]) from None
