"""A guard around pika's frame decoding, so that a message whose properties cannot be decoded
is dead-lettered instead of stopping its queue.

pika 1.4.4 decodes a message's properties inside the connection's frame reader with no guard:
a header holding an AMQP timestamp past the year 9999 (OverflowError) or tables nested past
the interpreter's recursion limit (RecursionError) raise there, the connection drops, and the
unacknowledged message comes back on the next connection, again and again: one publisher
could stop a service's queue for good. (The timestamp case is fixed upstream, pika#1699, in no
release we can install.) The guard turns such a content header into one whose only header says
why it could not be read; the AMQP binding (binding.py) refuses it, so the consumer
dead-letters it like any other poison message. Remove the guard once pika decodes defensively.
"""

from __future__ import annotations

import struct
from typing import Any, Final

import pika.frame
import pika.spec

UNREADABLE_PROPERTIES: Final = "x-orderflow-unreadable-properties"

_original_decode_frame: Any = None


def guard_frame_decoding() -> None:
    """Install the guard (once per process; later calls do nothing)."""
    global _original_decode_frame
    if _original_decode_frame is not None:
        return
    _original_decode_frame = pika.frame.decode_frame
    pika.frame.decode_frame = _decode_frame


def _decode_frame(data_in: bytes) -> tuple[int, Any]:
    try:
        return _original_decode_frame(data_in)  # type: ignore[no-any-return]
    except Exception as error:  # only a content header is answered below; the rest re-raise
        unreadable = _unreadable_header(data_in, error)
        if unreadable is None:
            raise
        return unreadable


def _unreadable_header(data_in: bytes, error: Exception) -> tuple[int, Any] | None:
    """The frame as a content header with the reason in place of its properties; None when
    the frame is not a whole content header (then the original error stands)."""
    if len(data_in) < 7 + 12:
        return None
    frame_type, channel_number, frame_size = struct.unpack_from(">BHL", data_in, 0)
    frame_end = 7 + frame_size + 1
    if frame_type != pika.spec.FRAME_HEADER or len(data_in) < frame_end:
        return None
    _class_id, _weight, body_size = struct.unpack_from(">HHQ", data_in, 7)
    reason = f"its properties cannot be decoded ({type(error).__name__})"
    properties = pika.spec.BasicProperties(headers={UNREADABLE_PROPERTIES: reason})
    return frame_end, pika.frame.Header(channel_number, body_size, properties)
