"""The JSON client the order service calls other services with: timeouts, failures, correlation."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from services.inventory.main import bootstrap
from services.kernel import correlation
from services.kernel.config import Settings
from services.kernel.errors import DownstreamUnavailable
from services.kernel.http.client import HealthProbe, JsonClient
from services.kernel.telemetry import Telemetry


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and never answers: what a hung service looks like from outside."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_hung_service_times_out_as_unavailable(silent_server: str) -> None:
    telemetry = Telemetry("order")
    client = JsonClient("payment", silent_server, timeout_s=0.2, telemetry=telemetry)
    with pytest.raises(DownstreamUnavailable) as failed:
        await client.call("charge", "POST", "/charges", json={})
    await client.aclose()
    assert (failed.value.service, failed.value.operation) == ("payment", "charge")
    assert "no answer within 0.2s" in str(failed.value)
    sample = telemetry.registry.get_sample_value(
        "orderflow_downstream_calls_total",
        {"target": "payment", "operation": "charge", "outcome": "timeout"},
    )
    assert sample == 1.0


async def test_a_refused_connection_is_unavailable() -> None:
    client = JsonClient("inventory", f"http://127.0.0.1:{closed_port()}", 1.0, Telemetry("o"))
    with pytest.raises(DownstreamUnavailable, match="ConnectError"):
        await client.call("reserve", "POST", "/reservations", json={})
    await client.aclose()


async def test_the_correlation_id_reaches_the_other_service(tmp_path: Path) -> None:
    settings = Settings.from_env({"ORDERFLOW_DATA_DIR": str(tmp_path)})
    async with AsyncExitStack() as resources:
        inventory = (await bootstrap(settings, resources)).http_app
        peer = httpx.ASGITransport(app=inventory)
        client = JsonClient("inventory", "http://inventory", 1.0, Telemetry("order"), peer)
        correlation.begin("corr-42")
        answer = await client.call("catalog", "GET", "/products")
        await client.aclose()
    # The inventory app echoes the id it received: it came over the wire from the client.
    assert answer.headers[correlation.HEADER] == "corr-42"


async def test_health_probe_names_who_is_missing(silent_server: str) -> None:
    probe = HealthProbe(
        {"silent": silent_server, "gone": f"http://127.0.0.1:{closed_port()}"}, timeout_s=0.2
    )
    assert await probe.check() == {"silent": False, "gone": False}
    await probe.aclose()
