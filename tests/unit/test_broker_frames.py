"""The guard around pika's frame decoding: a content header that pika cannot decode becomes
one that says so, which the AMQP binding refuses (the consumer then dead-letters it)."""

from __future__ import annotations

import struct

import pika.frame
import pika.spec
import pytest

from services.kernel.broker.binding import decode_message
from services.kernel.broker.events import InvalidEvent
from services.kernel.broker.frames import (
    UNREADABLE_PROPERTIES,
    _decode_frame,
    guard_frame_decoding,
)

HEADERS_FLAG = 1 << 13  # basic properties: only `headers` present


def content_header(table_entries: bytes, channel: int = 1, body_size: int = 2) -> bytes:
    table = struct.pack(">I", len(table_entries)) + table_entries
    payload = struct.pack(">HHQ", 60, 0, body_size) + struct.pack(">H", HEADERS_FLAG) + table
    return struct.pack(">BHL", pika.spec.FRAME_HEADER, channel, len(payload)) + payload + b"\xce"


def far_timestamp() -> bytes:
    return b"\x01t" + b"T" + struct.pack(">Q", 2**63)  # past the year 9999


def deep_tables(depth: int = 5000) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = b"\x01a" + b"F" + struct.pack(">I", len(inner)) + inner
    return b"\x01x" + b"F" + struct.pack(">I", len(inner)) + inner


def unknown_field_type() -> bytes:
    return b"\x01z" + b"Z" + b"\x00"


@pytest.fixture(autouse=True)
def guarded() -> None:
    guard_frame_decoding()


@pytest.mark.parametrize("entries", [far_timestamp(), deep_tables(), unknown_field_type()])
def test_a_header_pika_cannot_decode_arrives_saying_why(entries: bytes) -> None:
    frame = content_header(entries, channel=7, body_size=42)
    consumed, header = pika.frame.decode_frame(frame)  # what pika's connection calls
    assert consumed == len(frame)  # the stream stays in step: the body frame comes next
    assert isinstance(header, pika.frame.Header)
    assert (header.channel_number, header.body_size) == (7, 42)
    reason = header.properties.headers[UNREADABLE_PROPERTIES]
    assert "cannot be decoded" in reason
    with pytest.raises(InvalidEvent, match="not readable"):
        decode_message(b"{}", header.properties.content_type, header.properties.headers)


def test_a_readable_header_is_decoded_as_before() -> None:
    frame = content_header(b"\x01k" + b"S" + struct.pack(">I", 2) + b"ok")
    consumed, header = _decode_frame(frame)
    assert consumed == len(frame)
    assert header.properties.headers == {"k": "ok"}


def test_a_broken_frame_of_another_kind_still_raises() -> None:
    """Only content headers carry what a publisher chose; anything else is pika's to judge."""
    payload = b"\x00\x3c\x00\x28" + b"\xff" * 3  # basic.publish, cut short
    frame = struct.pack(">BHL", pika.spec.FRAME_METHOD, 1, len(payload)) + payload + b"\xce"
    with pytest.raises(struct.error):
        _decode_frame(frame)


def test_installing_twice_keeps_one_guard() -> None:
    guard_frame_decoding()
    guard_frame_decoding()
    assert pika.frame.decode_frame is _decode_frame
