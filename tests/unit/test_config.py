from __future__ import annotations

from pathlib import Path

import pytest

from services.kernel.config import SERVICES, ConfigError, Settings, host_variable


def test_defaults_match_the_documented_ports() -> None:
    settings = Settings.from_env({})
    ports = {name: address.http_port for name, address in settings.addresses.items()}
    assert ports == {"order": 8000, "inventory": 8001, "payment": 8002, "notification": 8003}
    assert settings.address("order").grpc_port == 50050
    assert settings.database_path("payment") == Path(".orderflow/payment.db")
    assert settings.address("inventory").http_url == "http://127.0.0.1:8001"


def test_every_port_and_limit_can_be_overridden() -> None:
    settings = Settings.from_env(
        {
            "ORDERFLOW_HOST": "127.0.0.2",
            "ORDERFLOW_INVENTORY_HTTP_PORT": "9001",
            "ORDERFLOW_CALL_TIMEOUT_S": "0.5",
            "ORDERFLOW_MAX_BODY_BYTES": "1024",
            "ORDERFLOW_DATA_DIR": "/tmp/x",
        }
    )
    assert settings.address("inventory").http_url == "http://127.0.0.2:9001"
    assert (settings.call_timeout_s, settings.max_body_bytes) == (0.5, 1024)
    assert settings.database_path("order") == Path("/tmp/x/order.db")


def test_an_ipv6_host_is_bracketed_in_urls() -> None:
    settings = Settings.from_env({"ORDERFLOW_HOST": "::1"})
    assert settings.address("order").http_url == "http://[::1]:8000"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORDERFLOW_ORDER_HTTP_PORT", "http"),
        ("ORDERFLOW_ORDER_HTTP_PORT", "70000"),
        ("ORDERFLOW_CALL_TIMEOUT_S", "-1"),
        ("ORDERFLOW_CALL_TIMEOUT_S", "soon"),
        ("ORDERFLOW_MAX_BODY_BYTES", "big"),
        ("ORDERFLOW_LOG_LEVEL", "loud"),
    ],
)
def test_a_bad_value_fails_fast_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_the_start_delay_is_off_by_default_and_takes_seconds_up_to_600() -> None:
    assert Settings.from_env({}).start_delay_s == 0.0
    for raw, seconds in (("1.5", 1.5), ("0", 0.0), ("600", 600.0)):
        assert Settings.from_env({"ORDERFLOW_START_DELAY_S": raw}).start_delay_s == seconds


@pytest.mark.parametrize("value", ["-1", "600.5", "soon", "", "nan", "inf"])
def test_a_bad_start_delay_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="ORDERFLOW_START_DELAY_S"):
        Settings.from_env({"ORDERFLOW_START_DELAY_S": value})


def test_every_service_has_a_control_port_at_its_http_port_plus_100() -> None:
    ports = {name: a.control_port for name, a in Settings.from_env({}).addresses.items()}
    assert ports == {"order": 8100, "inventory": 8101, "payment": 8102, "notification": 8103}
    moved = Settings.from_env({"ORDERFLOW_NOTIFICATION_CONTROL_PORT": "9999"})
    assert moved.address("notification").control_port == 9999


def test_a_service_is_reached_at_the_bind_host_unless_its_own_host_is_set() -> None:
    settings = Settings.from_env(
        {"ORDERFLOW_HOST": "0.0.0.0", "ORDERFLOW_INVENTORY_HOST": "inventory"}
    )
    assert settings.host == "0.0.0.0"  # what every service binds, unchanged
    assert settings.address("inventory").http_url == "http://inventory:8001"
    assert settings.address("payment").host == "0.0.0.0"  # not set: ORDERFLOW_HOST, as before


@pytest.mark.parametrize("host", ["payment", "payment_1", "10.0.0.7", "::1", "pay.example.com"])
def test_a_service_host_is_a_name_or_an_address(host: str) -> None:
    settings = Settings.from_env({host_variable("payment"): host})
    assert settings.address("payment").host == host
    assert settings.address("order").host == "127.0.0.1"


def test_an_ipv6_service_host_is_bracketed_in_its_url() -> None:
    settings = Settings.from_env({"ORDERFLOW_ORDER_HOST": "fd00::7"})
    assert settings.address("order").http_url == "http://[fd00::7]:8000"


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "pay ment",
        "http://payment",
        "payment:8002",
        "[::1]",
        "payment/",
        "-payment",
        "fe80::1%eth0",
    ],
)
def test_a_bad_service_host_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="ORDERFLOW_NOTIFICATION_HOST"):
        Settings.from_env({"ORDERFLOW_NOTIFICATION_HOST": value})


def test_every_service_has_its_own_host_variable() -> None:
    names = {service: host_variable(service) for service in SERVICES}
    assert names["inventory"] == "ORDERFLOW_INVENTORY_HOST"
    env = {name: f"host-of-{service}" for service, name in names.items()}
    settings = Settings.from_env(env)
    assert {s: settings.address(s).host for s in SERVICES} == {s: f"host-of-{s}" for s in SERVICES}


def test_every_setting_read_from_a_variable_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    variables = [field.alias for field in Settings.model_fields.values() if field.alias]
    assert len(variables) > 10
    assert [name for name in variables if f"`{name}`" not in readme] == []


def test_the_rest_of_the_environment_is_ignored() -> None:
    settings = Settings.from_env({"PATH": "/usr/bin", "ORDERFLOW_NOT_A_SETTING": "x"})
    assert settings == Settings.from_env({})


def test_a_database_url_puts_the_store_on_postgresql_and_sqlite_stays_the_default() -> None:
    assert Settings.from_env({}).database_location("order") == Path(".orderflow/order.db")
    url = "postgresql://postgres@127.0.0.1:5432/orderflow_order"
    on_postgres = Settings.from_env({"ORDERFLOW_DATABASE_URL": url})
    assert on_postgres.database_location("order") == url
    with pytest.raises(ConfigError, match="ORDERFLOW_DATABASE_URL must be a postgresql://"):
        Settings.from_env({"ORDERFLOW_DATABASE_URL": "mysql://root@db/orders"})
