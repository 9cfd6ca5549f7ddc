"""`orderflow bench --target URL`: the addresses of a running stack, and how Locust is told them."""

from __future__ import annotations

import argparse

import pytest

from harness.bench.target import Target, running_target
from harness.load.targets import Targets, from_options
from harness.load.targets import add_arguments as add_target_arguments
from services.kernel.config import DEFAULT_BROKER_URL, Settings

ENV = {
    "ORDERFLOW_HOST": "10.9.9.9",  # where `orderflow up` binds; the bench goes where --target says
    "ORDERFLOW_ORDER_HTTP_PORT": "9100",
    "ORDERFLOW_ORDER_GRPC_PORT": "9150",
    "ORDERFLOW_INVENTORY_HTTP_PORT": "9101",
    "ORDERFLOW_INVENTORY_GRPC_PORT": "9151",
    "ORDERFLOW_BROKER_URL": "amqp://bench:secret@broker.internal:5673/%2F",
    "ORDERFLOW_BROKER_NAMESPACE": "bench-7",
}


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(ENV)


def test_the_host_comes_from_the_url_and_the_ports_from_the_settings(settings: Settings) -> None:
    target = running_target("http://shop.example:9100", settings)
    assert target.targets == Targets(
        order_http="http://shop.example:9100",
        inventory_http="http://shop.example:9101",
        order_grpc="shop.example:9150",
        inventory_grpc="shop.example:9151",
        broker_url="amqp://bench:secret@broker.internal:5673/%2F",
        namespace="bench-7",
    )
    assert target.description == "http://shop.example:9100"
    assert target.services == {  # where the audit reads each service's books
        "order": "http://shop.example:9100",
        "inventory": "http://shop.example:9101",
        "payment": "http://shop.example:8002",  # not set: the default ports
        "notification": "http://shop.example:8003",
    }


def test_an_ipv6_host_keeps_its_brackets_in_every_address(settings: Settings) -> None:
    targets = running_target("http://[::1]:9100", settings).targets
    assert targets.inventory_http == "http://[::1]:9101"
    assert (targets.order_grpc, targets.inventory_grpc) == ("[::1]:9150", "[::1]:9151")


def test_https_is_kept_for_the_inventory_service(settings: Settings) -> None:
    targets = running_target("https://shop.example/", settings).targets
    assert targets.order_http == "https://shop.example"  # no trailing slash
    assert targets.inventory_http == "https://shop.example:9101"


def test_the_default_ports_and_broker_without_overrides() -> None:
    targets = running_target("http://127.0.0.1:8000", Settings.from_env({})).targets
    assert targets.inventory_http == "http://127.0.0.1:8001"
    assert targets.order_grpc == "127.0.0.1:50050"
    assert targets.inventory_grpc == "127.0.0.1:50051"
    assert targets.broker_url == DEFAULT_BROKER_URL
    assert targets.namespace == "orderflow"


@pytest.mark.parametrize(
    "url",
    [
        "shop.example:8000",
        "shop.example",
        "ftp://shop.example:8000",
        "http://",
        "http:///orders",
        "",
    ],
)
def test_a_url_without_an_http_scheme_or_a_host_is_refused(url: str, settings: Settings) -> None:
    with pytest.raises(ValueError, match="--target"):
        running_target(url, settings)


def test_locust_is_given_every_address_after_its_flag_starting_with_the_host(
    settings: Settings,
) -> None:
    targets = running_target("http://shop.example:9100", settings).targets
    options = Target(targets, "a stack").locust_options()
    assert len(options) % 2 == 0
    flags, values = options[0::2], options[1::2]
    assert all(flag.startswith("--") for flag in flags)
    assert not any(value.startswith("--") for value in values)
    assert len(set(flags)) == len(flags)
    assert options[:2] == ["--host", targets.order_http]
    assert dict(zip(flags, values, strict=True)) == {
        "--host": "http://shop.example:9100",
        "--orderflow-inventory-url": "http://shop.example:9101",
        "--orderflow-order-grpc": "shop.example:9150",
        "--orderflow-inventory-grpc": "shop.example:9151",
        "--orderflow-broker-url": "amqp://bench:secret@broker.internal:5673/%2F",
        "--orderflow-broker-namespace": "bench-7",
    }


def test_the_users_read_the_options_back_to_the_same_addresses(settings: Settings) -> None:
    targets = running_target("http://shop.example:9100", settings).targets
    parser = argparse.ArgumentParser()
    parser.add_argument("--host")  # Locust's own
    add_target_arguments(parser)  # the users' options, as the locustfile registers them
    options = parser.parse_args(Target(targets, "a stack").locust_options())
    assert from_options(options.host, options) == targets


def test_a_service_moved_by_its_own_host_variable_is_reached_there() -> None:
    # Compose: each service is a host of its own; order is where --target says.
    env = {f"ORDERFLOW_{s.upper()}_HOST": s for s in ("inventory", "payment", "notification")}
    target = running_target("http://order:8000", Settings.from_env(env))
    assert target.targets.inventory_http == "http://inventory:8001"
    assert target.targets.inventory_grpc == "inventory:50051"
    assert target.targets.order_grpc == "order:50050"
    assert target.services["payment"] == "http://payment:8002"
    assert target.services["notification"] == "http://notification:8003"
