"""Who a process is on the broker: ORDERFLOW_BROKER_URL says where, ORDERFLOW_BROKER_USER and
ORDERFLOW_BROKER_PASSWORD (together) say who, replacing any credentials in the URL."""

from __future__ import annotations

import pika
import pytest

from services.kernel.config import ConfigError, Settings, redacted, url_user, with_credentials

WHERE = "amqp://rabbitmq:5672/%2F"


def test_without_an_identity_the_url_is_used_as_it_is() -> None:
    assert Settings.from_env({}).broker_user == "guest"  # the machine broker's dev default
    settings = Settings.from_env({"ORDERFLOW_BROKER_URL": WHERE})
    assert (settings.broker_url, settings.broker_user) == (WHERE, None)


def test_the_user_and_password_replace_the_urls_credentials() -> None:
    env = {
        "ORDERFLOW_BROKER_URL": "amqp://guest:guest@rabbitmq:5672/%2F",
        "ORDERFLOW_BROKER_USER": "order",
        "ORDERFLOW_BROKER_PASSWORD": "orderflow-order-dev",
    }
    settings = Settings.from_env(env)
    assert settings.broker_url == "amqp://order:orderflow-order-dev@rabbitmq:5672/%2F"
    assert settings.broker_user == "order"


@pytest.mark.parametrize(("user", "password"), [("o:rd@er", "p@ss:w/rd %2F?#"), ("ü", "ß€")])
def test_credentials_reach_the_client_library_exactly_as_given(user: str, password: str) -> None:
    env = {
        "ORDERFLOW_BROKER_URL": "amqps://broker.internal:5671/orders",
        "ORDERFLOW_BROKER_USER": user,
        "ORDERFLOW_BROKER_PASSWORD": password,
    }
    settings = Settings.from_env(env)
    parameters = pika.URLParameters(settings.broker_url)
    assert (parameters.credentials.username, parameters.credentials.password) == (user, password)
    assert (parameters.host, parameters.port, parameters.virtual_host) == (
        "broker.internal",
        5671,
        "orders",
    )
    assert settings.broker_user == user


@pytest.mark.parametrize(
    "given",
    [
        {"ORDERFLOW_BROKER_USER": "order"},
        {"ORDERFLOW_BROKER_PASSWORD": "orderflow-order-dev"},
        {"ORDERFLOW_BROKER_USER": "", "ORDERFLOW_BROKER_PASSWORD": "x"},
        {"ORDERFLOW_BROKER_USER": "order", "ORDERFLOW_BROKER_PASSWORD": ""},
    ],
)
def test_a_user_without_a_password_or_the_reverse_is_refused(given: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="ORDERFLOW_BROKER_USER and ORDERFLOW_BROKER_PASSWORD"):
        Settings.from_env({"ORDERFLOW_BROKER_URL": WHERE, **given})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORDERFLOW_BROKER_USER", "ord\ner"),
        ("ORDERFLOW_BROKER_PASSWORD", "secret\x00tail"),
        ("ORDERFLOW_BROKER_PASSWORD", "s" * 256),
    ],
)
def test_an_unprintable_or_overlong_credential_is_refused_without_echoing_it(
    variable: str, value: str
) -> None:
    env = {"ORDERFLOW_BROKER_USER": "order", "ORDERFLOW_BROKER_PASSWORD": "pw", variable: value}
    with pytest.raises(ConfigError, match=variable) as refused:
        Settings.from_env(env)
    assert value not in str(refused.value)


@pytest.mark.parametrize("url", ["http://rabbitmq/", "amqp://", "amqp:///%2F", "amqp://[::1/"])
def test_a_broker_url_without_a_host_or_scheme_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="ORDERFLOW_BROKER_URL"):
        Settings.from_env({"ORDERFLOW_BROKER_URL": url})


@pytest.mark.parametrize("url", ["http://order:s3cret@rabbitmq/", "amqp://order:s3cret@:5672/"])
def test_a_refused_url_is_shown_without_its_password(url: str) -> None:
    with pytest.raises(ConfigError, match="ORDERFLOW_BROKER_URL") as refused:
        Settings.from_env({"ORDERFLOW_BROKER_URL": url})
    assert "s3cret" not in str(refused.value)
    assert "order:***@" in str(refused.value)


def test_url_helpers_read_and_write_the_user() -> None:
    assert url_user("amqp://a%40b:x@h/") == "a@b"
    assert url_user("amqp://h:5672/") is None
    assert with_credentials("amqp://old:pw@h:1/v", "new", "p w") == "amqp://new:p%20w@h:1/v"
    assert redacted("amqp://u:p@ss@h:1/v") == "amqp://u:***@h:1/v"
    assert redacted("amqp://h:1/v") == "amqp://h:1/v"
