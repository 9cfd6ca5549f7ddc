"""Small helpers that talk to the running stack over REST, shared by the e2e tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

from harness.clients.shapes import order_request
from harness.stack.supervisor import Stack

TERMINAL = {"CONFIRMED", "REJECTED", "CANCELLED"}


def order_body(
    items: dict[str, int], token: str = "tok_visa", customer: str | None = None
) -> dict[str, Any]:
    return order_request(items, token, customer)


def available(http: httpx.Client, stack: Stack, sku: str) -> int:
    return int(http.get(f"{stack.url('inventory')}/products/{sku}").json()["available"])


def charge(http: httpx.Client, stack: Stack, order_id: str) -> str | None:
    answer = http.get(f"{stack.url('payment')}/charges/{order_id}")
    return str(answer.json()["status"]) if answer.status_code == 200 else None


def payment_summary(http: httpx.Client, stack: Stack) -> dict[str, int]:
    summary: dict[str, int] = http.get(f"{stack.url('payment')}/payments/summary").json()
    return summary


def wait_for(
    http: httpx.Client, url: str, accept: set[str], timeout_s: float = 30
) -> dict[str, Any]:
    """Poll an order until its status is in `accept`; fail with the last status seen."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = http.get(url)
        if answer.status_code == 200:
            last = answer.json()
            if last.get("status") in accept:
                return last
        time.sleep(0.05)
    raise AssertionError(f"{url} did not reach {sorted(accept)} in {timeout_s}s; last: {last}")
