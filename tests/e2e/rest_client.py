"""Small helpers that talk to the running stack over REST, shared by the e2e tests."""

from __future__ import annotations

from typing import Any

import httpx

from harness.clients.shapes import order_request
from harness.stack.supervisor import Stack


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
