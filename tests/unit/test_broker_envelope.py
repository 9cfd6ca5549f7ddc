"""The CloudEvents 1.0 envelope and its AMQP binding, against the spec's own examples and what
the CloudEvents SDK for Python writes: every valid event is read, and only what breaks a rule
of the spec is refused, with the rule in the reason."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings import amqp, rabbitmq
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from services.kernel.broker import catalogue as ev
from services.kernel.broker.binding import decode_message
from services.kernel.broker.catalogue import data_of
from services.kernel.broker.events import CONTENT_TYPE, InvalidEvent, decode, new_event

# The JSON event format spec's examples (section 3.2), with a real Base64 string for the first.
SPEC_BINARY = {
    "specversion": "1.0",
    "type": "com.example.someevent",
    "source": "/mycontext",
    "id": "A234-1234-1234",
    "time": "2018-04-05T17:31:00Z",
    "comexampleextension1": "value",
    "comexampleothervalue": 5,
    "datacontenttype": "application/vnd.apache.thrift.binary",
    "data_base64": base64.b64encode(b"\x00\x01thrift").decode(),
}
SPEC_XML = {
    **{k: v for k, v in SPEC_BINARY.items() if k != "data_base64"},
    "id": "B234-1234-1234",
    "unsetextension": None,
    "datacontenttype": "application/xml",
    "data": '<much wow="xml"/>',
}
SPEC_JSON = {
    **{k: v for k, v in SPEC_XML.items() if k != "unsetextension"},
    "subject": None,
    "id": "C234-1234-1234",
    "datacontenttype": "application/json",
    "data": {"appinfoA": "abc", "appinfoB": 123, "appinfoC": True},
}
SPEC_STRING = {
    **{k: v for k, v in SPEC_JSON.items() if k != "datacontenttype"},
    "id": "D234-1234-1234",
    "data": "I'm just a string",
}
MINIMAL = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}  # required only


def body(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def test_the_json_format_examples_of_the_spec_are_read() -> None:
    binary = decode(body(SPEC_BINARY))
    assert binary.data == b"\x00\x01thrift" and not binary.json_data
    xml = decode(body(SPEC_XML))
    assert (xml.data, xml.json_data) == ('<much wow="xml"/>', False)
    as_json = decode(body(SPEC_JSON))
    assert as_json.data == SPEC_JSON["data"] and as_json.subject is None and as_json.json_data
    string = decode(body(SPEC_STRING))
    assert (string.data, string.datacontenttype, string.json_data) == (
        "I'm just a string",
        None,
        True,  # no datacontenttype: JSON, as the format says
    )
    assert (as_json.id, as_json.source, as_json.type, as_json.time) == (
        "C234-1234-1234",
        "/mycontext",
        "com.example.someevent",
        "2018-04-05T17:31:00Z",
    )


@pytest.mark.parametrize(
    "envelope",
    [
        MINIMAL,  # no time, no data, no correlation id
        {**MINIMAL, "time": None, "subject": None, "data": None},  # null is absent
        {**MINIMAL, "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        {**MINIMAL, "tracestate": "rojo=00f067aa0ba902b7", "partitionkey": "p1", "seq": -7},
        {**MINIMAL, "flag": True, "dataschema": "https://example.com/schema.json"},
        {**MINIMAL, "subject": "o-1", "datacontenttype": "application/json; charset=utf-8"},
        {**MINIMAL, "time": "1985-04-12T23:20:50.52Z"},  # RFC 3339's own examples
        {**MINIMAL, "time": "1996-12-19T16:39:57-08:00"},
        {**MINIMAL, "time": "2018-04-05t17:31:00.123456789z"},
        {**MINIMAL, "data": [1, 2]},
    ],
)
def test_every_shape_of_a_valid_event_is_read(envelope: dict[str, Any]) -> None:
    event = decode(body(envelope))
    assert (event.id, event.type, event.specversion) == ("1", "t", "1.0")


def test_the_correlation_id_extension_is_used_and_an_event_without_one_uses_its_id() -> None:
    assert decode(body({**MINIMAL, "correlationid": "c-9"})).correlationid == "c-9"
    assert decode(body(MINIMAL)).correlationid == "1"


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ({k: v for k, v in MINIMAL.items() if k != "id"}, "'id' is missing"),
        ({**MINIMAL, "source": None}, "'source' is missing"),
        ({k: v for k, v in MINIMAL.items() if k != "specversion"}, "'specversion' is missing"),
        ({**MINIMAL, "specversion": "0.3"}, "specversion"),
        ({**MINIMAL, "type": ""}, "type"),
        ({**MINIMAL, "id": 5}, "id"),
        ({**MINIMAL, "subject": ""}, "subject"),
        ({**MINIMAL, "time": "yesterday"}, "RFC 3339"),
        ({**MINIMAL, "time": "2018-04-05"}, "RFC 3339"),
        ({**MINIMAL, "time": "2018-13-05T17:31:00Z"}, "RFC 3339"),
        ({**MINIMAL, "Trace-Parent": "x"}, "lower-case letters and digits"),
        ({**MINIMAL, "nested": {"a": 1}}, "'nested' must be a string"),
        ({**MINIMAL, "ratio": 0.5}, "'ratio' must be"),
        ({**MINIMAL, "big": 2**31}, "'big' must be"),
        ({**MINIMAL, "data": 1, "data_base64": "AA=="}, "both data and data_base64"),
        ({**MINIMAL, "data_base64": "not base64!"}, "not Base64"),
        ({**MINIMAL, "id": "x" * 129}, "id"),
    ],
)
def test_what_breaks_the_spec_is_refused_naming_the_rule(
    envelope: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        decode(body(envelope))


def place(**attributes: Any) -> SdkEvent:
    data = {"customer_id": "ada", "items": [{"sku": "KB-MECH", "quantity": 1}]}
    data["payment_token"] = "tok_visa"
    return SdkEvent({"type": ev.ORDER_PLACE, "source": "/shop", **attributes}, data)


def test_the_sdks_amqp_binary_mode_is_read() -> None:
    """`cloudEvents_` properties, `time` as epoch milliseconds, no content type for JSON."""
    message = amqp.to_binary_event(place(traceparent="00-abc-def-01"))
    headers = message.application_properties
    event = decode_message(message.application_data, None, headers)
    assert (event.type, event.source, event.id) == (
        ev.ORDER_PLACE,
        "/shop",
        headers["cloudEvents_id"],
    )
    assert event.correlationid == event.id and event.time is not None
    assert data_of(event, ev.PlaceOrderCommand).customer_id == "ada"


def test_the_sdks_rabbitmq_binary_mode_and_structured_mode_are_read() -> None:
    sdk = place(correlationid="c-1")
    binary = rabbitmq.to_binary_event(sdk)
    structured = amqp.to_structured_event(sdk)
    from_headers = decode_message(binary.body, binary.content_type, binary.headers)
    from_body = decode_message(structured.application_data, CONTENT_TYPE, {})
    assert from_headers == from_body
    assert from_body.correlationid == "c-1" and from_body.data == sdk.get_data()


def spec_binary_headers(**extra: object) -> dict[str, object]:
    """The AMQP binding's own example (section 3.1.4), as a 0-9-1 consumer sees it."""
    return {
        "cloudEvents:specversion": "1.0",
        "cloudEvents:type": "com.example.someevent",
        "cloudEvents:time": "2018-04-05T03:56:24Z",
        "cloudEvents:id": "1234-1234-1234",
        "cloudEvents:source": "/mycontext/subcontext",
        **extra,
    }


def test_the_amqp_bindings_binary_example_is_read_with_native_or_string_values() -> None:
    content_type = "application/json; charset=utf-8"
    event = decode_message(b'{"x": 1}', content_type, spec_binary_headers())
    assert (event.id, event.time, event.data, event.datacontenttype) == (
        "1234-1234-1234",
        "2018-04-05T03:56:24Z",
        {"x": 1},
        content_type,
    )
    native = spec_binary_headers(**{"cloudEvents:time": datetime(2018, 4, 5, 3, 56, 24)})
    assert decode_message(b'{"x": 1}', content_type, native).time == event.time
    aware = spec_binary_headers(**{"cloudEvents:time": datetime(2018, 4, 5, 3, 56, 24, tzinfo=UTC)})
    assert decode_message(b"{}", None, aware).time == event.time
    opaque = decode_message(b"\x00raw", "application/octet-stream", spec_binary_headers())
    assert opaque.data == b"\x00raw" and not opaque.json_data


def test_an_extension_of_each_type_of_the_spec_is_accepted_as_an_amqp_value() -> None:
    """The binding maps Timestamp onto an AMQP timestamp, Binary onto binary, and so on."""
    extensions = {
        "cloudEvents:expiry": datetime(2030, 1, 1),
        "cloudEvents:blob": b"\x00\x01",
        "cloudEvents:flag": True,
        "cloudEvents:count": -(2**31),
        "cloudEvents:ref": "urn:x",
    }
    event = decode_message(b"{}", "application/json", spec_binary_headers(**extensions))
    assert event.id == "1234-1234-1234"


def test_a_time_out_of_range_is_refused_as_such() -> None:
    headers = spec_binary_headers(**{"cloudEvents:time": 10**30})
    with pytest.raises(InvalidEvent, match=r"time \d+ ms is out of range"):
        decode_message(b"{}", "application/json", headers)


def test_headers_outside_the_binding_are_not_attributes() -> None:
    ours = spec_binary_headers(**{"x-orderflow-attempts": 2, "x-death": [{"count": 1}]})
    assert decode_message(b"{}", "application/json", ours).id == "1234-1234-1234"


@pytest.mark.parametrize(
    ("content_type", "headers", "payload", "reason"),
    [
        ("application/json", spec_binary_headers(**{"cloudEvents:id": None}), b"{}", "'id'"),
        ("application/json", spec_binary_headers(), b"{not json", "data is not JSON"),
        ("application/cloudevents+avro", {}, b"\x00", "not supported"),
        ("application/cloudevents-batch+json", {}, b"[]", "not supported"),
        (
            "application/json",
            spec_binary_headers(**{"ce-id": "another"}),
            b"{}",
            "'id' has two values",
        ),
        ("application/json", spec_binary_headers(**{"cloudEvents:time": 1.5}), b"{}", "time"),
        ("application/json", spec_binary_headers(**{"cloudEvents:Bad": "x"}), b"{}", "'Bad'"),
        (None, {}, b"plain text", "not JSON"),  # no CloudEvent in either mode
    ],
)
def test_an_invalid_binary_or_structured_message_is_refused_with_a_reason(
    content_type: str | None, headers: dict[str, object], payload: bytes, reason: str
) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        decode_message(payload, content_type, headers)


def test_a_valid_event_whose_data_is_not_ours_is_refused_by_the_catalogue() -> None:
    opaque = decode_message(b"<xml/>", "application/xml", spec_binary_headers())
    command = opaque.model_copy(update={"type": ev.ORDER_PLACE})
    with pytest.raises(InvalidEvent, match="data must be a JSON object"):
        data_of(command, ev.PlaceOrderCommand)


def test_our_events_are_written_in_structured_mode_and_read_back_unchanged() -> None:
    event = new_event(ev.ORDER_PLACED, "orderflow/order", {"order_id": "o-1"}, "c-1", "o-1")
    written = json.loads(event.encode())
    assert written["datacontenttype"] == "application/json" and "dataschema" not in written
    assert decode_message(event.encode(), f"{CONTENT_TYPE}; charset=utf-8", {}) == event
    assert decode(event.encode()) == event
