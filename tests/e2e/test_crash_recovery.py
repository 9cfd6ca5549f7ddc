"""kill -9 the order process in the middle of a saga, restart it, and check nothing is half-done.

To stop the saga at a known step without any test hook in the product, the test freezes the next
service with SIGSTOP: the order service waits on it, holding the order at that step, and is then
killed. When the frozen service resumes it may still act on the dead process's request; the
restarted order service repeats the same idempotent call, so whichever comes first wins once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.clients.rest import wait_for
from harness.stack.supervisor import Stack
from harness.vocabulary import TERMINAL
from tests.e2e.rest_client import available, charge, order_body

pytestmark = pytest.mark.e2e


def place_in_background(stack: Stack, body: dict[str, Any]) -> threading.Thread:
    """The client whose connection dies with the order process; its answer does not matter."""

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{stack.url('order')}/orders", json=body, timeout=60.0)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def order_of(http: httpx.Client, stack: Stack, customer: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        listed = http.get(f"{stack.url('order')}/orders", params={"customer_id": customer}).json()
        if listed["orders"] and listed["orders"][0]["status"] == status:
            found: dict[str, Any] = listed["orders"][0]
            return found
        time.sleep(0.02)
    raise AssertionError(f"no {status} order for {customer}")


@pytest.fixture
def frozen(stack: Stack) -> Iterator[list[str]]:
    """Services the test paused; resumed even if the test fails, so the stack can stop."""
    paused: list[str] = []
    yield paused
    for service in paused:
        if stack.is_running(service):
            stack.resume(service)


def crash_while_waiting_on(
    stack: Stack,
    http: httpx.Client,
    frozen: list[str],
    service: str,
    held_at: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    stack.pause(service)
    frozen.append(service)
    client = place_in_background(stack, body)
    order = order_of(http, stack, body["customer_id"], held_at)
    time.sleep(0.2)  # the call to the frozen service is on the wire
    stack.kill("order")
    client.join(timeout=10)
    stack.resume(service)
    frozen.remove(service)
    stack.restart("order")
    return wait_for(http, f"{stack.url('order')}/orders/{order['id']}", TERMINAL)


def test_killed_while_charging_ends_consistent(
    stack: Stack, http: httpx.Client, frozen: list[str]
) -> None:
    before = available(http, stack, "MON-27")
    body = order_body({"MON-27": 2})
    final = crash_while_waiting_on(stack, http, frozen, "payment", "RESERVED", body)
    assert final["status"] in {"CONFIRMED", "CANCELLED"}
    held = before - available(http, stack, "MON-27")
    if final["status"] == "CONFIRMED":
        assert (charge(http, stack, final["id"]), held) == ("CHARGED", 2)
    else:
        assert charge(http, stack, final["id"]) in {None, "REFUNDED", "VOIDED"}
        assert held == 0
    saga = http.get(f"{stack.url('order')}/orders/{final['id']}/saga").json()["steps"]
    assert len([s for s in saga if s["step"] == "charge" and s["outcome"] == "ok"]) <= 1


def test_killed_while_reserving_ends_consistent(
    stack: Stack, http: httpx.Client, frozen: list[str]
) -> None:
    before = available(http, stack, "CABLE-USBC")
    body = order_body({"CABLE-USBC": 3})
    final = crash_while_waiting_on(stack, http, frozen, "inventory", "PENDING", body)
    assert final["status"] in {"CONFIRMED", "REJECTED"}
    held = before - available(http, stack, "CABLE-USBC")
    expected = ("CHARGED", 3) if final["status"] == "CONFIRMED" else (None, 0)
    assert (charge(http, stack, final["id"]), held) == expected


def test_a_graceful_stop_while_charging_leaves_the_order_for_the_next_start(
    stack: Stack, http: httpx.Client, frozen: list[str]
) -> None:
    """SIGTERM is not a reason to give up on an order: the stopping service leaves it where it
    stands (RESERVED), and the next start confirms it, charged once. Compensating it instead
    would refund a customer because of a deployment."""
    before = available(http, stack, "MON-27")
    body = order_body({"MON-27": 2})
    stack.pause("payment")
    frozen.append("payment")
    client = place_in_background(stack, body)
    order = order_of(http, stack, body["customer_id"], "RESERVED")
    time.sleep(0.2)  # the charge is on the wire
    stack.terminate("order")
    client.join(timeout=10)
    stack.resume("payment")
    frozen.remove("payment")
    stack.restart("order")
    final = wait_for(http, f"{stack.url('order')}/orders/{order['id']}", TERMINAL)
    assert (final["status"], final["reason"]) == ("CONFIRMED", None)
    assert (charge(http, stack, final["id"]), before - available(http, stack, "MON-27")) == (
        "CHARGED",
        2,
    )
    saga = http.get(f"{stack.url('order')}/orders/{final['id']}/saga").json()["steps"]
    assert [s["step"] for s in saga] == ["place", "reserve", "charge", "confirm"]


def test_no_order_is_left_unfinished_after_the_crashes(stack: Stack, http: httpx.Client) -> None:
    """Runs last in this module: every order the crashes touched has reached a final status."""
    stock = http.get(f"{stack.url('inventory')}/stock").json()
    for sku, units in stock.items():
        assert units["initial"] == units["available"] + units["held"], sku
