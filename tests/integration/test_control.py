"""The control endpoint: faults set and cleared at run time, behind a bearer token, on loopback
only, and not there at all without a token."""

from __future__ import annotations

import httpx
import pytest

from harness.stack.ports import free_ports
from services.kernel.config import ConfigError, Settings
from services.kernel.control import ControlServer, control_servers, create_control_app
from services.kernel.faults import Fault, Faults

TOKEN = "a-test-token-of-some-length"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def faults() -> Faults:
    return Faults(("payment.charge", "payment.refund"))


def client(faults: Faults) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_control_app(faults, TOKEN))
    return httpx.AsyncClient(transport=transport, base_url="http://control")


async def test_without_the_token_nothing_is_told_or_changed(faults: Faults) -> None:
    async with client(faults) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = await http.put("/faults/payment.charge", json={"hang": True}, headers=headers)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"] == "Bearer"
            assert (await http.get("/faults", headers=headers)).status_code == 401
    assert faults.active() == {}


async def test_set_list_and_clear_faults(faults: Faults) -> None:
    async with client(faults) as http:
        answer = await http.put(
            "/faults/payment.charge", json={"latency_ms": 200, "error_rate": 0.5}, headers=AUTH
        )
        assert answer.status_code == 200
        assert answer.json()["fault"]["latency_ms"] == 200
        assert faults.active() == {"payment.charge": Fault(latency_ms=200, error_rate=0.5)}
        await http.put("/faults/payment.refund", json={"hang": True}, headers=AUTH)
        listed = (await http.get("/faults", headers=AUTH)).json()
        assert listed["operations"] == ["payment.charge", "payment.refund"]
        assert set(listed["active"]) == {"payment.charge", "payment.refund"}
        assert (await http.delete("/faults/payment.charge", headers=AUTH)).status_code == 204
        assert list(faults.active()) == ["payment.refund"]
        assert (await http.delete("/faults", headers=AUTH)).status_code == 204
        assert faults.active() == {}


async def test_a_bad_fault_is_refused_naming_what_is_wrong(faults: Faults) -> None:
    async with client(faults) as http:
        bad = await http.put("/faults/payment.charge", json={"error_rate": 2}, headers=AUTH)
        assert bad.status_code == 400 and "error_rate" in bad.json()["error"]
        raw = await http.put("/faults/payment.charge", content=b"{nope", headers=AUTH)
        assert raw.status_code == 400 and "not JSON" in raw.json()["error"]
        unknown = await http.put("/faults/inventory.reserve", json={}, headers=AUTH)
        assert unknown.status_code == 404 and "inventory.reserve" in unknown.json()["error"]
    assert faults.active() == {}


async def test_the_server_listens_on_loopback_only(faults: Faults) -> None:
    [port] = free_ports(1, "127.0.0.1")
    server = ControlServer(faults, TOKEN, port)
    await server.start()
    try:
        assert server.addresses() == [("127.0.0.1", port)]
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/faults", headers=AUTH)
        assert answer.status_code == 200
    finally:
        await server.stop(1.0)


def test_no_token_no_control_endpoint_and_a_short_token_is_refused(faults: Faults) -> None:
    assert control_servers("payment", Settings.from_env({}), faults) == []
    settings = Settings.from_env({"ORDERFLOW_CONTROL_TOKEN": TOKEN})
    assert len(control_servers("payment", settings, faults)) == 1
    assert settings.address("payment").control_port == 8102  # the default: HTTP port + 100
    moved = Settings.from_env({"ORDERFLOW_PAYMENT_HTTP_PORT": "9002"})
    assert moved.address("payment").control_port == 9102  # follows a moved HTTP port
    with pytest.raises(ConfigError, match="ORDERFLOW_CONTROL_TOKEN must be at least 16"):
        Settings.from_env({"ORDERFLOW_CONTROL_TOKEN": "short"})
