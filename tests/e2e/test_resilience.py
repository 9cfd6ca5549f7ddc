"""The resilient profile on the running stack: with payment hanging, REST orders fail fast once
the breaker is open (no call reaches payment), no order is left half-done, and once payment is
back the breaker lets a probe through and closes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from harness.clients.faults import FaultControl, control_environment, controls
from harness.stack.supervisor import Stack
from tests.e2e.conftest import remove_topology, start_stack
from tests.e2e.metrics import sample_sum
from tests.e2e.rest_client import available, charge, order_body

pytestmark = pytest.mark.e2e

TOKEN = "e2e-resilience-token-0123456789"
TIMEOUT_S = 0.5  # each attempt
RESET_S = 2.0  # the breaker's open time
WINDOW = 10  # the last calls the breaker judges by


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("resilient"),
        ORDERFLOW_PROFILE="resilient",
        ORDERFLOW_CALL_TIMEOUT_S=str(TIMEOUT_S),
        ORDERFLOW_BREAKER_RESET_S=str(RESET_S),
        # The profile's window (100 calls) would take a minute of hung calls to fill here.
        ORDERFLOW_BREAKER_WINDOW=str(WINDOW),
        **control_environment(TOKEN),
    )
    with running:
        yield running
    remove_topology(running)


def payment_control(stack: Stack) -> FaultControl:
    return controls(stack.config.extra_env)["payment"]


def breaker(stack: Stack) -> float:
    return sample_sum(stack, "order", "orderflow_breaker_state", target="payment")


def place(http: httpx.Client, stack: Stack) -> tuple[dict[str, object], float]:
    started = time.monotonic()
    answer = http.post(f"{stack.url('order')}/orders", json=order_body({"KB-MECH": 1}))
    assert answer.status_code == 201, answer.text
    return answer.json(), time.monotonic() - started


def until_confirmed(
    http: httpx.Client, stack: Stack, cancelled: list[dict[str, object]]
) -> dict[str, object]:
    """Places orders until one is confirmed (or time is up); the others join `cancelled`."""
    deadline = time.monotonic() + 10 * RESET_S
    while True:
        order, _ = place(http, stack)
        if order["status"] == "CONFIRMED" or time.monotonic() > deadline:
            return order
        cancelled.append(order)
        time.sleep(0.1)


def test_a_hanging_payment_opens_the_breaker_and_orders_fail_fast(stack: Stack) -> None:
    payment = payment_control(stack)
    with httpx.Client(timeout=60) as http:
        stock = available(http, stack, "KB-MECH")
        payment.set("payment.charge", hang=True)
        try:
            first, took = place(http, stack)  # timed out and retried: the breaker counts each
            assert (first["status"], first["reason"]) == ("CANCELLED", "PAYMENT_FAILED")
            assert took >= 3 * TIMEOUT_S
            orders = [first]
            for _ in range(20):
                order, took = place(http, stack)
                orders.append(order)
                if breaker(stack) == 2:
                    break
            assert breaker(stack) == 2, "the breaker never opened"
            hung = sample_sum(stack, "payment", "orderflow_faults_injected_total", kind="hang")
            fast, took = place(http, stack)  # refused by the open breaker: payment never called
            orders.append(fast)
            assert (fast["status"], fast["reason"]) == ("CANCELLED", "PAYMENT_FAILED")
            assert took < TIMEOUT_S
            assert (
                sample_sum(stack, "payment", "orderflow_faults_injected_total", kind="hang") == hung
            )
        finally:
            payment.clear()
        time.sleep(RESET_S)
        # Once half-open, one probe passes: ours, or a compensation the saga's recovery retries at
        # the same moment (then ours is refused fast and cancelled). Either probe closes it, so
        # orders confirm again within a few tries.
        confirmed = until_confirmed(http, stack, orders)
        assert confirmed["status"] == "CONFIRMED" and breaker(stack) == 0

        # Nothing half-done: compensations the open breaker refused are retried by the saga's
        # recovery; soon every cancelled order's stock is back and nothing stays charged.
        def settled() -> bool:
            charges = [charge(http, stack, str(order["id"])) for order in orders]
            refunded = all(status in (None, "VOIDED", "REFUNDED") for status in charges)
            return refunded and available(http, stack, "KB-MECH") == stock - 1

        deadline = time.monotonic() + 20
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.25)
        assert settled(), [charge(http, stack, str(order["id"])) for order in orders]

        # The order the open breaker refused: its charge never left, so there was nothing to
        # refund, and payment has never heard of it (a refund would have left a VOIDED record).
        steps = http.get(f"{stack.url('order')}/orders/{fast['id']}/saga").json()["steps"]
        assert [(s["step"], s["outcome"]) for s in steps][2:] == [
            ("charge", "not_sent"),
            ("release", "ok"),
        ]
        assert charge(http, stack, str(fast["id"])) is None
