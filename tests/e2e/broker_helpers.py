"""Shared by the broker-style e2e tests: a client on the stack's namespace, requests, metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pika.exceptions
import pytest

from harness.clients.broker import BrokerOrderClient
from harness.rabbit import admin as rabbit_admin
from harness.stack.supervisor import Stack
from services.kernel.broker.topology import Topology
from tests.e2e.metrics import sample_sum


def client(stack: Stack) -> BrokerOrderClient:
    env = stack.config.extra_env
    return BrokerOrderClient(env["ORDERFLOW_BROKER_URL"], env["ORDERFLOW_BROKER_NAMESPACE"])


def require_broker(url: str) -> None:
    """Fail (never skip) with a message that says what is missing."""
    try:
        with rabbit_admin.channel(url):
            pass
    except pika.exceptions.AMQPConnectionError:
        pytest.fail(
            f"the broker-style tests need RabbitMQ at {url} (guest/guest); it does not answer"
        )


def topology(stack: Stack) -> Topology:
    return Topology(stack.config.extra_env["ORDERFLOW_BROKER_NAMESPACE"])


def broker_url(stack: Stack) -> str:
    return stack.config.extra_env["ORDERFLOW_BROKER_URL"]


def request(sku: str = "KB-MECH", quantity: int = 1, token: str = "tok_visa", **extra: Any) -> Any:
    """A place-order request for a customer of its own (the ledger counts orders per customer)."""
    return {
        "customer_id": f"bk-{uuid.uuid4().hex[:16]}",
        "items": [{"sku": sku, "quantity": quantity}],
        "payment_token": token,
        **extra,
    }


def urls(stack: Stack) -> dict[str, str]:
    return {s: stack.url(s) for s in ("order", "inventory", "payment", "notification")}


def consumed(stack: Stack, service: str, type_: str) -> float:
    """How many deliveries of `type_` the service has handled (its Prometheus counter)."""
    return sample_sum(
        stack, service, "orderflow_broker_consumed_total", type=type_, outcome="handled"
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)
