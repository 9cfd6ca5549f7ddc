"""Port checks and the stack's configuration: no child process is started here."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import supervisor
from harness.stack.ports import PortClaim, PortInUse, check_ports, free_ports, is_free
from harness.stack.supervisor import START_ORDER, StackConfig, connect_host, start_waves
from services.kernel.config import SERVICES, Settings


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert all(is_free("127.0.0.1", port) for port in ports)


def test_a_listening_port_is_not_free(listening: int) -> None:
    assert not is_free("127.0.0.1", listening)


def test_port_in_use_names_service_port_and_variable(listening: int) -> None:
    claims = [PortClaim("payment", "grpc", listening)]
    with pytest.raises(PortInUse) as caught:
        check_ports("127.0.0.1", claims)
    message = str(caught.value)
    assert "payment" in message
    assert str(listening) in message
    assert "ORDERFLOW_PAYMENT_GRPC_PORT" in message
    assert caught.value.variable == "ORDERFLOW_PAYMENT_GRPC_PORT"


def test_the_same_port_twice_in_one_stack_is_refused() -> None:
    (port,) = free_ports(1)
    claims = [PortClaim("inventory", "http", port), PortClaim("order", "http", port)]
    with pytest.raises(PortInUse) as caught:
        check_ports("127.0.0.1", claims)
    assert "also configured as the inventory HTTP port" in str(caught.value)
    assert caught.value.variable == "ORDERFLOW_ORDER_HTTP_PORT"


def test_dependencies_start_first() -> None:
    assert START_ORDER == ("inventory", "payment", "notification", "order")
    assert start_waves(START_ORDER) == [("inventory", "payment", "notification"), ("order",)]
    assert start_waves(("order", "inventory")) == [("inventory",), ("order",)]
    assert start_waves(("order",)) == [("order",)]


def test_on_free_ports_gives_every_service_its_own_ports(tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(tmp_path, services=("inventory",))
    ports = [config.http_port(s) for s in SERVICES] + [config.grpc_port(s) for s in SERVICES]
    assert len(set(ports)) == 2 * len(SERVICES)
    assert config.services == ("inventory",)


def test_on_free_ports_leaves_the_ports_its_environment_promises_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A control port drawn free a moment ago is not bound until its service starts: the
    stack's own ports must not be drawn on it (a CI run once lost a stack to that)."""
    asked: list[set[int]] = []

    def drawn(count: int, host: str, exclude: set[int]) -> list[int]:
        asked.append(set(exclude))
        return list(range(20000, 20000 + count))

    monkeypatch.setattr(supervisor, "free_ports", drawn)
    env = {"ORDERFLOW_PAYMENT_CONTROL_PORT": "29703", "ORDERFLOW_CALL_TIMEOUT_S": "1"}
    StackConfig.on_free_ports(tmp_path, extra_env=env, exclude={41000})
    assert asked == [{29703, 41000}]


def test_children_get_every_address_as_the_services_read_them(tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(
        tmp_path, services=("inventory",), extra_env={"ORDERFLOW_CALL_TIMEOUT_S": "0.5"}
    )
    inherited = {"PATH": "/bin", "ORDERFLOW_INVENTORY_HTTP_PORT": "1"}
    env = config.environment({**inherited, "ORDERFLOW_INVENTORY_HOST": "inventory"})
    settings = Settings.from_env(env)
    assert env["PATH"] == "/bin"
    assert settings.data_dir == tmp_path.absolute()
    assert settings.call_timeout_s == 0.5
    for service in SERVICES:
        assert settings.address(service).host == config.host  # not a container's host
        assert settings.address(service).http_port == config.http_port(service)
        assert settings.address(service).grpc_port == config.grpc_port(service)


def test_children_bound_to_a_wildcard_reach_each_other_on_loopback(tmp_path: Path) -> None:
    env = StackConfig(data_dir=tmp_path, host="0.0.0.0").environment({})
    settings = Settings.from_env(env)
    assert settings.host == "0.0.0.0"
    assert settings.address("inventory").http_url == "http://127.0.0.1:8001"


def test_relative_data_dir_is_made_absolute() -> None:
    config = StackConfig(data_dir=Path(".orderflow"))
    assert config.data_dir.is_absolute()
    assert config.log_path("order") == config.data_dir / "logs" / "order.log"
    assert config.database_files("order")[1].name == "order.db-wal"


def test_unknown_service_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shipping"):
        StackConfig(data_dir=tmp_path, services=("shipping",))


def test_wildcard_hosts_are_reached_on_loopback() -> None:
    assert connect_host("0.0.0.0") == "127.0.0.1"
    assert connect_host("::") == "[::1]"
    assert connect_host("localhost") == "localhost"
