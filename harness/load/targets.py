"""Where the users send their load: the order and inventory services (HTTP and gRPC) and the
broker. Locust's `--host` is the order service's HTTP address; the rest are `--orderflow-*`
options whose defaults come from the same ORDERFLOW_* environment as `orderflow up`, so the
users find a stack started with `orderflow up` without any option."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from services.kernel.config import Settings, bracketed


@dataclass(frozen=True)
class Targets:
    order_http: str
    inventory_http: str
    order_grpc: str
    inventory_grpc: str
    broker_url: str
    namespace: str

    def order_ws(self) -> str:
        return _ws(self.order_http)

    def inventory_ws(self) -> str:
        return _ws(self.inventory_http)


def add_arguments(parser: Any) -> None:
    """Register the target options on Locust's parser (or any argparse-like parser)."""
    settings = Settings.from_env()
    order, inventory = settings.address("order"), settings.address("inventory")
    options: list[tuple[str, str, str]] = [
        ("--orderflow-inventory-url", inventory.http_url, "inventory's HTTP base URL"),
        ("--orderflow-order-grpc", _grpc(order.http_url, order.grpc_port), "order's gRPC address"),
        (
            "--orderflow-inventory-grpc",
            _grpc(inventory.http_url, inventory.grpc_port),
            "inventory's gRPC address",
        ),
        ("--orderflow-broker-url", settings.broker_url, "the broker (AMQP URL)"),
        ("--orderflow-broker-namespace", settings.broker_namespace, "the stack's broker namespace"),
    ]
    for flag, default, help_text in options:
        parser.add_argument(flag, default=default, help=f"{help_text} (default: %(default)s)")


def from_options(host: str, options: argparse.Namespace) -> Targets:
    return Targets(
        order_http=host.rstrip("/"),
        inventory_http=str(options.orderflow_inventory_url).rstrip("/"),
        order_grpc=str(options.orderflow_order_grpc),
        inventory_grpc=str(options.orderflow_inventory_grpc),
        broker_url=str(options.orderflow_broker_url),
        namespace=str(options.orderflow_broker_namespace),
    )


def default_host() -> str:
    return Settings.from_env().address("order").http_url


def _grpc(http_url: str, port: int) -> str:
    return f"{bracketed(urlsplit(http_url).hostname or '')}:{port}"


def _ws(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http") + "/ws"
