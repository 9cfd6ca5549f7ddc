"""The JSON client the order service calls other services with, against real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from services.kernel import correlation
from services.kernel.errors import DownstreamUnavailable
from services.kernel.http.client import HealthProbe, JsonClient
from services.kernel.telemetry import Telemetry


@dataclass
class Peer:
    """A minimal HTTP/1.1 server: records each request head, answers `status` with `body`."""

    status: str = "200 OK"
    body: bytes = b"{}"
    silent: bool = False  # accept and never answer, as a hung service does
    heads: list[str] = field(default_factory=list)
    url: str = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := (await reader.readuntil(b"\r\n\r\n")).decode():
            self.heads.append(head)
            length = next(
                (
                    int(line.split(":")[1])
                    for line in head.split("\r\n")
                    if line.lower().startswith("content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            if self.silent:
                await reader.read()
                break
            writer.write(
                f"HTTP/1.1 {self.status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(self.body)}\r\n\r\n".encode()
                + self.body
            )
            await writer.drain()
        writer.close()


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    made = Peer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await made.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    made.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield made
        server.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def outcome_count(telemetry: Telemetry, operation: str, outcome: str) -> float | None:
    return telemetry.registry.get_sample_value(
        "orderflow_downstream_calls_total",
        {"target": "payment", "operation": operation, "outcome": outcome},
    )


async def test_a_success_carries_the_correlation_id_and_returns_the_body(peer: Peer) -> None:
    peer.body = b'{"status": "CHARGED"}'
    telemetry = Telemetry("order")
    client = JsonClient("payment", peer.url, 1.0, telemetry)
    correlation.begin("corr-42")
    reply = await client.call("charge", "POST", "/charges", json={"order_id": "o1"})
    await client.aclose()
    assert reply.is_success and reply.json() == {"status": "CHARGED"}
    head = peer.heads[0]
    assert head.startswith("POST /charges HTTP/1.1")
    assert "X-Correlation-ID: corr-42" in head
    assert outcome_count(telemetry, "charge", "ok") == 1.0


async def test_a_refusal_is_returned_for_the_caller_to_read(peer: Peer) -> None:
    peer.status, peer.body = "409 Conflict", b'{"code": "CHARGE_VOIDED"}'
    client = JsonClient("payment", peer.url, 1.0, Telemetry("order"))
    reply = await client.call("charge", "POST", "/charges", json={})
    await client.aclose()
    assert (reply.status_code, reply.is_success, reply.json()["code"]) == (
        409,
        False,
        "CHARGE_VOIDED",
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"not JSON", "JSONDecodeError"), (b"[" * 100_000, "RecursionError"), (b"{}", "KeyError")],
)
async def test_a_success_read_inside_the_exchange_is_counted_when_read(
    peer: Peer, body: bytes, error: str
) -> None:
    """A 2xx the caller cannot read is `unreadable`, never `ok`: the outcome is unknown."""
    telemetry = Telemetry("order")
    client = JsonClient("payment", peer.url, 1.0, telemetry)
    peer.body = b'{"status": "CHARGED"}'
    async with client.exchange("charge", "POST", "/charges") as reply:
        assert reply.json()["status"] == "CHARGED"
    peer.body = body
    with pytest.raises(DownstreamUnavailable, match=f"unreadable answer \\({error}\\)"):
        async with client.exchange("charge", "POST", "/charges") as reply:
            reply.json()["status"]
    await client.aclose()
    assert outcome_count(telemetry, "charge", "ok") == 1.0
    assert outcome_count(telemetry, "charge", "unreadable") == 1.0


async def test_a_server_error_is_unavailable(peer: Peer) -> None:
    peer.status = "503 Service Unavailable"
    client = JsonClient("payment", peer.url, 1.0, Telemetry("order"))
    with pytest.raises(DownstreamUnavailable, match="HTTP 503"):
        await client.call("charge", "POST", "/charges", json={})
    await client.aclose()


async def test_a_hung_service_times_out_as_unavailable(peer: Peer) -> None:
    peer.silent = True
    telemetry = Telemetry("order")
    client = JsonClient("payment", peer.url, timeout_s=0.2, telemetry=telemetry)
    with pytest.raises(DownstreamUnavailable) as failed:
        await client.call("charge", "POST", "/charges", json={})
    await client.aclose()
    assert (failed.value.service, failed.value.operation) == ("payment", "charge")
    assert "no answer within 0.2s" in str(failed.value)
    assert outcome_count(telemetry, "charge", "timeout") == 1.0


async def test_a_refused_connection_is_unavailable() -> None:
    client = JsonClient("payment", f"http://127.0.0.1:{closed_port()}", 1.0, Telemetry("o"))
    with pytest.raises(DownstreamUnavailable, match="ClientConnectorError"):
        await client.call("charge", "POST", "/charges", json={})
    await client.aclose()


async def test_health_probe_names_who_answers_and_who_is_missing(peer: Peer) -> None:
    silent = Peer(silent=True)
    server = await asyncio.start_server(silent.serve, "127.0.0.1", 0)
    silent_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    probe = HealthProbe(
        {"up": peer.url, "hung": silent_url, "gone": f"http://127.0.0.1:{closed_port()}"},
        timeout_s=0.2,
    )
    assert await probe.check() == {"up": True, "hung": False, "gone": False}
    await probe.aclose()
    server.close()
    await server.wait_closed()
    assert peer.heads[0].startswith("GET /health HTTP/1.1")
