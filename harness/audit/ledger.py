"""Accounting after a run, in the spirit of Jepsen's total-queue checker: every order a client
asked for must end exactly once, and every effect must match the outcomes.

Each request is placed for a customer id of its own, so the ledger can ask the order service
how many orders each request produced: none is a LOST request, more than one a DUPLICATE, one
that never reaches a terminal status within the grace period is STUCK. Then the effects are
checked against the outcomes, as deltas from a snapshot taken before the run: units held by
inventory equal the units of confirmed orders, charges equal confirmed orders (and their
totals), declines equal orders cancelled for a declined card. Last, the customers: every
finished order's customer was told its outcome (else it is UNNOTIFIED), once; redeliveries that
the notification service recognised are counted apart (expected after a crash, not a fault).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.vocabulary import TERMINAL


@dataclass(frozen=True)
class Snapshot:
    held: Mapping[str, int]
    payments: Mapping[str, int]
    notification_duplicates: int


@dataclass
class Ledger:
    requested: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    inconsistent: int = 0
    unnotified: int = 0  # finished orders whose customer was not told their outcome
    notification_repeats: int = (
        0  # redeliveries recognised by notification (told once all the same)
    )
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # the customers whose request left no order

    @property
    def sound(self) -> bool:
        """Nothing wrong that a customer or the books would see (redeliveries aside)."""
        return not (
            self.lost or self.duplicated or self.stuck or self.inconsistent or self.unnotified
        )

    @property
    def clean(self) -> bool:
        """Sound, and not even a redelivery was needed (a run without crashes)."""
        return self.sound and not self.notification_repeats

    def summary(self) -> str:
        counts = f"lost={self.lost} duplicated={self.duplicated} stuck={self.stuck}"
        told = f"unnotified={self.unnotified} repeats={self.notification_repeats}"
        return f"{counts} inconsistent={self.inconsistent} {told} of {self.requested}: " + (
            "; ".join(self.problems[:10])
        )


def snapshot(urls: Mapping[str, str]) -> Snapshot:
    with httpx.Client(timeout=10.0) as http:
        stock = http.get(f"{urls['inventory']}/stock").json()
        payments = http.get(f"{urls['payment']}/payments/summary").json()
        notes = http.get(f"{urls['notification']}/notifications/summary").json()
    return Snapshot(
        held={sku: row["held"] for sku, row in stock.items()},
        payments=payments,
        notification_duplicates=notes["duplicates"],
    )


def account(
    urls: Mapping[str, str], customers: Iterable[str], before: Snapshot, grace_s: float = 30.0
) -> Ledger:
    """Wait up to `grace_s` for every customer's order to finish, then check the books."""
    customers = list(customers)
    with httpx.Client(timeout=10.0) as http:
        deadline = time.monotonic() + grace_s
        orders = _orders(http, urls["order"], customers)
        while not _settled(orders) and time.monotonic() < deadline:
            time.sleep(0.25)
            orders = _orders(http, urls["order"], customers)
        told = _told_when_drained(http, urls, orders, deadline)
        ledger = _count_orders(orders)
        _check_effects(http, urls, before, orders, ledger)
        _check_told(orders, told, ledger)
    return ledger


def told(http: httpx.Client, notification_url: str) -> dict[str, str]:
    """Order id -> the outcome its customer was told (`order.confirmed`...)."""
    reply = http.get(f"{notification_url}/audit")
    reply.raise_for_status()
    return {str(order_id): str(kind) for order_id, kind in reply.json()["notifications"]}


def _told_when_drained(
    http: httpx.Client, urls: Mapping[str, str], orders: Mapping[str, list[Any]], deadline: float
) -> dict[str, str]:
    """What notification holds once every finished order's customer was told (the order
    service's backlog drained), or at the deadline."""
    finished = [o for found in orders.values() for o in found if o["status"] in TERMINAL]
    while True:
        seen = told(http, urls["notification"])
        if all(seen.get(o["id"]) == told_kind(o["status"]) for o in finished):
            return seen
        if time.monotonic() >= deadline:
            return seen
        time.sleep(0.25)


def told_kind(status: str) -> str:
    """The notification a finished order's customer must get: `order.confirmed` ..."""
    return f"order.{status.lower()}"


def _check_told(orders: Mapping[str, list[Any]], told: Mapping[str, str], ledger: Ledger) -> None:
    for order in (o for found in orders.values() for o in found):
        if order["status"] not in TERMINAL:
            continue  # stuck, counted already: it owes no notification yet
        if told.get(order["id"]) != told_kind(order["status"]):
            ledger.unnotified += 1
            seen = told.get(order["id"], "nothing")
            ledger.problems.append(f"order {order['id']} is {order['status']}, told {seen}")


def _orders(http: httpx.Client, order_url: str, customers: list[str]) -> dict[str, list[Any]]:
    found = {}
    for customer in customers:
        reply = http.get(f"{order_url}/orders", params={"customer_id": customer})
        reply.raise_for_status()
        found[customer] = reply.json()["orders"]
    return found


def _settled(orders: Mapping[str, list[Any]]) -> bool:
    return all(len(o) == 1 and o[0]["status"] in TERMINAL for o in orders.values())


def _count_orders(orders: Mapping[str, list[Any]]) -> Ledger:
    ledger = Ledger(requested=len(orders))
    for customer, found in orders.items():
        if not found:
            ledger.lost += 1
            ledger.missing.append(customer)
            ledger.problems.append(f"{customer}: no order")
        elif len(found) > 1:
            ledger.duplicated += len(found) - 1
            ledger.problems.append(f"{customer}: {len(found)} orders")
        for order in found:
            if order["status"] not in TERMINAL:
                ledger.stuck += 1
                ledger.problems.append(f"order {order['id']} stuck in {order['status']}")
            ledger.outcomes[f"{order['status']}/{order['reason'] or '-'}"] += 1
    return ledger


def _check_effects(
    http: httpx.Client,
    urls: Mapping[str, str],
    before: Snapshot,
    orders: Mapping[str, list[Any]],
    ledger: Ledger,
) -> None:
    after = snapshot(urls)
    finished = [o for found in orders.values() for o in found]
    confirmed = [o for o in finished if o["status"] == "CONFIRMED"]
    declined = [o for o in finished if o["reason"] == "PAYMENT_DECLINED"]
    units: Counter[str] = Counter()
    for order in confirmed:
        for item in order["items"]:
            units[item["sku"]] += item["quantity"]
    for sku, held in after.held.items():
        _expect(ledger, f"units of {sku} held", held - before.held.get(sku, 0), units[sku])
    paid = after.payments
    _expect(ledger, "charges", paid["CHARGED"] - before.payments["CHARGED"], len(confirmed))
    cents = sum(o["total_cents"] for o in confirmed)
    _expect(ledger, "cents", paid["charged_cents"] - before.payments["charged_cents"], cents)
    _expect(ledger, "declines", paid["DECLINED"] - before.payments["DECLINED"], len(declined))
    ledger.notification_repeats = after.notification_duplicates - before.notification_duplicates


def _expect(ledger: Ledger, what: str, seen: int, expected: int) -> None:
    if seen != expected:
        ledger.inconsistent += 1
        ledger.problems.append(f"{what}: {seen}, expected {expected}")
