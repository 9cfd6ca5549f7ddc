"""The REST client: place an order, read it, and poll it until it reaches a status."""

from __future__ import annotations

import time
from collections.abc import Set
from typing import Any

import httpx

from harness.clients.shapes import Placed, Request, rest_place


class Refused(Exception):
    """The service refused a request with an answer other than an order."""


def place(http: httpx.Client, base_url: str, request: Request) -> Placed:
    """POST /orders. An unknown SKU is refused with 422 and the order it rejected."""
    body, headers = rest_place(request)
    answer = http.post(f"{base_url}/orders", json=body, headers=headers)
    if answer.status_code not in (200, 201, 422):
        raise Refused(f"POST /orders: HTTP {answer.status_code}: {answer.text[:200]}")
    document: dict[str, Any] = answer.json()
    return Placed.from_json(document.get("order", document))


def wait_for(
    http: httpx.Client, url: str, accept: Set[str], timeout_s: float = 30
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
