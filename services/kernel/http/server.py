"""uvicorn's httptools protocol with the limits on a request's head that uvicorn does not have.

uvicorn bounds a body only through the app and an idle keep-alive connection by
`timeout_keep_alive`; with httptools it accepts any number of headers of any size, and waits
forever for a head that never ends or a first request that never comes. Added here, per request:
- at most `max_header_bytes` of request line and headers, and at most `max_headers` fields:
  past either, 431 (problem+json `HEADERS_TOO_LARGE`) and the connection closes;
- the head must be complete `header_timeout_s` after the connection opened or the request's
  first byte: then the connection closes (408 `REQUEST_TIMEOUT` if part of a head came), so a
  slowloris client or one that never sends holds a socket for that long at most.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.kernel.http.problem import problem


@dataclass(frozen=True)
class HeadLimits:
    max_header_bytes: int = 16 * 1024  # Node.js's default; nginx's is 8 KiB per line
    max_headers: int = 100  # Apache's LimitRequestFields
    header_timeout_s: float = 10.0


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing; uvicorn then calls send_400_response."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    limits = HeadLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # request line and header fields parsed so far
        self._head_buffered = 0  # bytes received while the head was still incomplete
        self._head_began_in_chunk = False
        self._head_fields = 0
        self._in_head = True  # no request yet, or this request's head is not complete
        self._head_begun = False  # a byte of this request's head came
        self._too_large = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._head_began_in_chunk = False
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            # The head is still incomplete after this chunk, so the parser holds a field that has
            # not ended yet (on_header counts the ended ones). A chunk in which the head began
            # may carry the previous request's body too (pipelining): that one is not counted,
            # so the parser holds at most a chunk more than the limit.
            if not self._head_began_in_chunk:
                self._head_buffered += len(data)
            if self._head_buffered > self.limits.max_header_bytes:
                self._refuse_too_large()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_buffered = self._head_fields = 0
        self._in_head = self._head_began_in_chunk = self._head_begun = True
        if self._head_timer is None:
            self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count(len(url), fields=0)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count(len(name) + len(value), fields=1)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse_too_large()
        else:
            super().send_400_response(msg)

    def _count(self, size: int, fields: int) -> None:
        self._head_bytes += size
        self._head_fields += fields
        limits = self.limits
        if self._head_bytes > limits.max_header_bytes or self._head_fields > limits.max_headers:
            self._too_large = True
            raise _HeadTooLarge  # out of the parser, which uvicorn answers by send_400_response

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timeout)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._head_begun:
            limit = self.limits.header_timeout_s
            detail = f"the request's headers did not arrive within {limit:g} s"
            self._answer_and_close(problem(408, "REQUEST_TIMEOUT", detail, limit_s=limit))
        else:
            self.transport.close()  # nothing was asked: nothing to answer

    def _refuse_too_large(self) -> None:
        limits = self.limits
        detail = (
            f"the request line and headers exceed {limits.max_header_bytes} bytes"
            f" or {limits.max_headers} fields"
        )
        refusal = problem(
            431,
            "HEADERS_TOO_LARGE",
            detail,
            limit_bytes=limits.max_header_bytes,
            limit_fields=limits.max_headers,
        )
        self._answer_and_close(refusal)

    def _answer_and_close(self, response: Response) -> None:
        """An answer written below the app (as uvicorn writes its own 400), then closed."""
        status = HTTPStatus(response.status_code)
        head = [f"HTTP/1.1 {status.value} {status.phrase}"]
        head += [f"{name}: {value}" for name, value in response.headers.items()]
        head.append("connection: close")
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
        self.transport.close()


def bounded_protocol(limits: HeadLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=` setting, with these limits."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})
