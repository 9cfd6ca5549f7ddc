"""Limits on a request's head, over real sockets against the services' uvicorn server as
services/kernel/serve.py configures it (with a 1 s timeout instead of 10 s to keep tests short)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Mapping

import pytest
import uvicorn
from fastapi import APIRouter, Request, WebSocket
from websockets.asyncio.client import connect

from services.kernel.http.app import create_http_app
from services.kernel.http.server import HeadLimits
from services.kernel.serve import http_config
from services.kernel.telemetry import Telemetry

LIMITS = HeadLimits(max_header_bytes=16 * 1024, max_headers=100, header_timeout_s=1.0)
KEEP_ALIVE_S = 1
BOUND_S = 5.0  # how long a test waits for the server to act on a 1 s timeout (a loaded CI)


async def ready() -> Mapping[str, bool]:
    return {}


def echo_app() -> object:
    router = APIRouter()

    @router.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @router.websocket("/ws-echo")
    async def ws_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())

    return create_http_app(
        title="t",
        description="d",
        routers=[router],
        telemetry=Telemetry("test"),
        readiness=ready,
        max_body_bytes=64 * 1024,
    )


@pytest.fixture
async def port() -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    config = http_config(
        echo_app(),  # type: ignore[arg-type]
        host="127.0.0.1",
        port=free,
        log_level="warning",
        max_body_bytes=64 * 1024,
        head_limits=LIMITS,
        keep_alive_s=KEEP_ALIVE_S,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    yield free
    server.should_exit = True
    await task


async def exchange(port: int, head: bytes) -> bytes:
    """Send a request and read until the server closes the connection.

    b"" when the server reset it: it stopped reading at the limit, answered and closed while
    the client was still sending (TCP then may discard the answer before it is read)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), BOUND_S)
    except ConnectionError:
        return b""
    finally:
        writer.close()


def request(*fields: str, body: bytes = b"") -> bytes:
    head = ["POST /echo HTTP/1.1", "Host: t", f"Content-Length: {len(body)}", *fields]
    head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


def problem_code(answer: bytes) -> str:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    return str(json.loads(body)["code"])


async def test_a_head_within_the_limits_is_served_with_its_body_in_the_same_packet(
    port: int,
) -> None:
    fields = [f"X-Field-{i}: {'v' * 100}" for i in range(90)]  # 90 fields, about 10 KiB
    answer = await exchange(port, request(*fields, body=b"{" * 40_000))
    assert status(answer) == 200 and answer.endswith(b'{"bytes":40000}')


@pytest.mark.parametrize(
    "fields",
    [
        [f"X-Big: {'a' * 1_000_000}"],  # one huge header
        [f"X-Field-{i}: v" for i in range(1000)],  # many small headers
        [f"X-Field-{i}: v" for i in range(101)],  # one field over the count
        [f"X-Field-{i}: {'b' * 1000}" for i in range(17)],  # many medium: over 16 KiB in total
    ],
    ids=["one-1MB-header", "1000-headers", "101-headers", "17KB-of-headers"],
)
async def test_a_head_over_the_limits_is_431_and_the_connection_closes(
    port: int, fields: list[str]
) -> None:
    answer = await exchange(port, request(*fields))
    too_big_to_finish_sending = len(request(*fields)) > 100_000
    if too_big_to_finish_sending and answer == b"":
        return  # reset while still sending: the server stopped reading at the limit
    assert status(answer) == 431 and problem_code(answer) == "HEADERS_TOO_LARGE"


async def test_a_long_url_counts_toward_the_head(port: int) -> None:
    answer = await exchange(port, f"GET /health?q={'x' * 20_000} HTTP/1.1\r\n".encode())
    assert status(answer) == 431 and problem_code(answer) == "HEADERS_TOO_LARGE"


async def test_a_head_sent_too_slowly_is_closed_with_408(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = asyncio.get_running_loop().time()
    try:
        answer = b""
        for byte in b"POST /echo HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"z" * 100:
            writer.write(bytes([byte]))
            with contextlib.suppress(TimeoutError):  # a byte every 50 ms, until it answers
                answer = await asyncio.wait_for(reader.read(), 0.05)
                break
    finally:
        writer.close()
    assert status(answer) == 408 and problem_code(answer) == "REQUEST_TIMEOUT"
    assert asyncio.get_running_loop().time() - started < LIMITS.header_timeout_s + BOUND_S


async def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(
    port: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert await asyncio.wait_for(reader.read(), LIMITS.header_timeout_s + BOUND_S) == b""
    finally:
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b'"service":"test"}'), BOUND_S)
        assert status(first) == 200
        assert await asyncio.wait_for(reader.read(), KEEP_ALIVE_S + BOUND_S) == b""
    finally:
        writer.close()


async def test_pipelined_requests_with_bodies_in_one_packet_are_all_served(port: int) -> None:
    # Bodies larger than the head limit, in the same write as the next request's head: only
    # heads count toward the limit.
    keep = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n" + b"x" * 20_000
    answers = await exchange(port, keep + keep + request(body=b"y" * 20_000))
    assert answers.count(b"HTTP/1.1 200 OK") == 3 and b"431" not in answers


async def test_a_head_that_stops_after_its_first_byte_is_answered_408(port: int) -> None:
    answer = await exchange(port, b"P")
    assert status(answer) == 408 and problem_code(answer) == "REQUEST_TIMEOUT"


async def test_a_header_that_never_ends_is_431_once_past_the_limit(port: int) -> None:
    # The parser holds an unfinished field; it is refused by the bytes received, not at its end.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Endless: ")
        answer = b""
        for _ in range(64):  # 64 KiB at most, a KiB every 20 ms
            with contextlib.suppress(ConnectionError):
                writer.write(b"a" * 1024)
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(), 0.02)
                break
    finally:
        writer.close()
    assert status(answer) == 431 and problem_code(answer) == "HEADERS_TOO_LARGE"


async def test_websockets_are_not_compressed_even_when_the_client_offers_it(port: int) -> None:
    """The websockets client offers permessage-deflate by default; for messages of a few
    hundred bytes it costs CPU on both ends and saves nothing, so the server declines it."""
    async with connect(f"ws://127.0.0.1:{port}/ws-echo", compression="deflate") as socket:
        assert socket.protocol.extensions == []
        await socket.send('{"jsonrpc":"2.0"}')
        assert await asyncio.wait_for(socket.recv(), BOUND_S) == '{"jsonrpc":"2.0"}'
