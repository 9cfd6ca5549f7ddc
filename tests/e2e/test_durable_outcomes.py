"""kill -9 under load, then what customers and clients rely on, in every orchestrated style:

- notification killed while orders flow: orders go on completing, and once it is back every
  finished order's customer has been told its outcome, once (the order service owed it and
  delivered it until acknowledged);
- the order service killed with orders in flight: a client that retries with the same
  idempotency key is answered the order's final status, as the first call would have been, not
  the PENDING or RESERVED the crash left in the store.

Real processes, real signals, each style's real protocol (the placers of test_parity).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from harness import audit
from harness.clients.faults import control_environment, controls
from harness.scenarios.queues import notifications_owed
from harness.stack.supervisor import Stack
from services.order.handlers import RECOVERY_CONCURRENCY
from tests.e2e.conftest import remove_topology, start_stack
from tests.e2e.rest_client import charge
from tests.e2e.test_parity import PLACERS, Answer

pytestmark = pytest.mark.e2e

TOKEN = "e2e-durable-token-0123456789"
SERVICES = ("order", "inventory", "payment", "notification")
CHARGE_LATENCY_MS = 3000  # holds orders RESERVED long enough to kill the order service


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("durable"), **control_environment(TOKEN))
    with running:
        yield running
    remove_topology(running)


def urls(stack: Stack) -> dict[str, str]:
    return {service: stack.url(service) for service in SERVICES}


def in_threads(calls: list[Callable[[], None]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=call, daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    return threads


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s}s"
        time.sleep(0.05)


class Users:
    """One user per orchestrated style placing orders one after another (a card that pays and
    one that is declined, by turns) until stopped; each order for a customer of its own."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._stop = threading.Event()
        self.customers: list[str] = []
        self.errors: list[str] = []
        self._threads = in_threads([self._user(style) for style in PLACERS])

    def _user(self, style: str) -> Callable[[], None]:
        def run() -> None:
            for n in itertools.count():
                if self._stop.is_set():
                    return
                customer = f"outage-{style}-{n}"
                token = "tok_visa" if n % 3 else "tok_chargeDeclined"
                try:
                    PLACERS[style](self._stack, {"KB-MECH": 1}, token, customer, customer)
                except Exception as error:  # reported by the test
                    self.errors.append(f"{style}: {error!r}")
                self.customers.append(customer)

        return run

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def test_notification_killed_under_load_every_customer_is_told_once(stack: Stack) -> None:
    before = audit.snapshot(urls(stack))
    users = Users(stack)
    try:
        wait_until(lambda: len(users.customers) >= 8, 30, "orders before the kill")
        stack.kill("notification")
        placed = len(users.customers)
        owed: list[int | None] = []
        wait_until(lambda: len(users.customers) >= placed + 12, 30, "orders while it is down")
        owed.append(notifications_owed(stack.url("order")))
        stack.restart("notification")
        wait_until(lambda: len(users.customers) >= placed + 20, 30, "orders after it is back")
    finally:
        users.stop()
    assert users.errors == []
    assert (owed[0] or 0) > 0  # the customers told nothing yet were owed, not forgotten
    ledger = audit.account(urls(stack), users.customers, before, grace_s=30)
    # Every order finished, the books add up, every customer was told their outcome. (A
    # redelivery whose answer died with notification is recognised there: told once.)
    assert ledger.sound, ledger.summary()
    placed_ids = order_ids(stack, users.customers)
    with httpx.Client(trust_env=False) as http:
        told = audit.audit_rows(http, stack.url("notification"), "notifications")
    ours = [order_id for order_id, _ in told if order_id in placed_ids]
    assert len(ours) == len(set(ours)) == len(users.customers)  # one notification per order
    assert notifications_owed(stack.url("order")) == 0


def order_ids(stack: Stack, customers: list[str]) -> set[str]:
    found: set[str] = set()
    for customer in customers:
        listed = httpx.get(f"{stack.url('order')}/orders", params={"customer_id": customer})
        found.update(order["id"] for order in listed.json()["orders"])
    return found


def test_a_retry_after_the_order_service_restarts_is_answered_a_final_status(
    stack: Stack,
) -> None:
    """Enough orders in flight that recovery, which drives a few at a time, cannot have taken
    them all when the retries come: each retry must drive its saga (or join recovery's) and
    answer CONFIRMED in every style, never RESERVED, and no card is charged twice."""
    per_style = RECOVERY_CONCURRENCY // len(PLACERS) + 2
    requests = [(style, f"retry-{style}-{n}") for style in PLACERS for n in range(per_style)]
    payment = controls(stack.config.extra_env)["payment"]
    payment.set("payment.charge", latency_ms=CHARGE_LATENCY_MS)
    try:
        first = in_threads([place_ignoring_errors(stack, s, c) for s, c in requests])
        wait_until(lambda: all_reserved(stack, [c for _, c in requests]), 30, "all RESERVED")
        stack.kill("order")
        for thread in first:
            thread.join(timeout=10)
        stack.restart("order")
        answers: dict[str, Answer] = {}
        retries = in_threads([retry(stack, s, c, answers) for s, c in requests])
        for thread in retries:
            thread.join(timeout=60)
    finally:
        payment.clear()
    assert sorted(answers) == sorted(customer for _, customer in requests)
    assert {answers[c][:2] for c in answers} == {("CONFIRMED", None)}, answers
    for customer, answer in answers.items():
        listed = httpx.get(f"{stack.url('order')}/orders", params={"customer_id": customer})
        assert [o["id"] for o in listed.json()["orders"]] == [answer[3]]  # the same order
        with httpx.Client(timeout=10) as http:
            assert charge(http, stack, answer[3]) == "CHARGED"  # once: payment keys by order


def place_ignoring_errors(stack: Stack, style: str, customer: str) -> Callable[[], None]:
    """The first call: its connection dies with the order service; its answer does not count."""

    def place() -> None:
        with contextlib.suppress(Exception):  # whatever the dying connection raises
            PLACERS[style](stack, {"MON-27": 1}, "tok_visa", customer, customer)

    return place


def retry(
    stack: Stack, style: str, customer: str, answers: dict[str, Answer]
) -> Callable[[], None]:
    """The client's retry, with the same key: its answer is what this test is about."""

    def place() -> None:
        answers[customer] = PLACERS[style](stack, {"MON-27": 1}, "tok_visa", customer, customer)

    return place


def all_reserved(stack: Stack, customers: list[str]) -> bool:
    for customer in customers:
        listed = httpx.get(f"{stack.url('order')}/orders", params={"customer_id": customer})
        orders = listed.json()["orders"]
        if not orders or orders[0]["status"] != "RESERVED":
            return False
    return True
