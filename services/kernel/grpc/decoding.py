"""Request messages that do not decode: INVALID_ARGUMENT, and one short log line now and then.

grpc.aio decodes a request before any handler or interceptor code sees it, and an exception
there is answered UNKNOWN with a traceback in the log, one per request: garbage on the port would
fill the log. So the edge wraps each method's decoder: a message that does not decode (truncated,
a string field that is not UTF-8, not protobuf at all) becomes an `Undecodable` value, which the
method's wrapper answers with INVALID_ARGUMENT before the method sees it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import grpc
from google.protobuf.message import DecodeError

from services.kernel.grpc import errors

log = logging.getLogger(__name__)

CODE: Final = "MALFORMED_MESSAGE"
LOG_EVERY_S: Final = 10.0

Decoder = Callable[[bytes], Any]


@dataclass(frozen=True)
class Undecodable:
    """What arrived instead of a request message, and why it did not decode."""

    reason: str


def tolerant(decoder: Decoder | None) -> Decoder | None:
    """`decoder`, returning `Undecodable` instead of raising for a message it cannot decode."""
    if decoder is None:
        return None
    strict = decoder

    def decode(raw: bytes) -> Any:
        try:
            return strict(raw)
        except DecodeError as error:
            return Undecodable(str(error))

    return decode


class Throttled:
    """At most one log line per `every_s`; the lines left out are counted in the next one."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._next_at = float("-inf")
        self._left_out = 0

    def warn(self, message: str) -> None:
        now = self._clock()
        if now < self._next_at:
            self._left_out += 1
            return
        more = f" ({self._left_out} more since the last such line)" if self._left_out else ""
        log.warning("%s%s", message, more)
        self._next_at = now + self._every_s
        self._left_out = 0


_undecodable_log: Final = Throttled(LOG_EVERY_S)


async def refuse(
    context: grpc.aio.ServicerContext[Any, Any], method: str, request: Undecodable
) -> NoReturn:
    _undecodable_log.warn(f"undecodable request to {method}: {request.reason}")
    message = f"the request message cannot be decoded: {request.reason}"
    await errors.abort(context, grpc.StatusCode.INVALID_ARGUMENT, CODE, message)
