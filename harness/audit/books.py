"""The audit after a run: once the load stops, wait (up to a grace period) for in-flight work to
finish, then check the invariants across the services' stores and count what breaks them.

- lost: an order request the client saw accepted (its key is in the samples) that left no order;
- stuck: an order not finished when the grace period is over: not CONFIRMED, CANCELLED or
  REJECTED, or decided but still owing a compensation (its saga not DONE);
- double_charges: payment records for one order beyond the first (the payment store keys them
  by order id, so this stays 0 unless that rule breaks);
- unrefunded_charges: money charged for an order that is not CONFIRMED and was not refunded;
- unpaid_confirmed: an order CONFIRMED without a charge that stands (the mirror image);
- stock_not_conserved: SKUs whose initial stock is not available + held, or whose held units
  are not the units of the confirmed orders;
- missing_notifications: finished orders whose customer was not told their outcome (nothing,
  or another outcome, in the notification service's books);
- duplicate_notifications: repeats of a notification that reached the notification service
  (at-least-once delivery; each was recognised and not sent to the customer again).

It reads each service's audit view over HTTP (order, payment and notification `GET /audit`,
inventory `GET /stock`, notification `GET /notifications/summary`), so the stores stay their
owners'.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import httpx

from harness.audit.ledger import told, told_kind
from harness.scenarios.spec import DEFAULT_GRACE_S
from harness.vocabulary import AUDIT_COUNTS, TERMINAL

POLL_S: Final = 0.5
EXAMPLES: Final = 10
TIMEOUT_S: Final = 30.0


@dataclass(frozen=True)
class Order:
    id: str
    status: str
    reason: str | None
    style: str
    key: str | None
    saga: str  # DONE once nothing is left to give back

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL and self.saga == "DONE"


@dataclass(frozen=True)
class Books:
    """What the stores hold after a run, as their audit views show it."""

    orders: list[Order]
    confirmed_units: Mapping[str, int]  # the stack's (every style's): stock is shared
    payments: list[tuple[str, str, int]]  # order id, status, cents
    stock: Mapping[str, Mapping[str, int]]  # sku: initial, available, held
    notification_repeats: int
    told: Mapping[str, str]  # order id: the outcome its customer was told (`order.confirmed`...)


def read_books(urls: Mapping[str, str], style: str | None) -> Books:
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as http:
        orders = _orders_view(http, urls["order"], style)
        units = orders if style is None else _orders_view(http, urls["order"], None)
        payments = _get(http, f"{urls['payment']}/audit")["payments"]
        stock = _get(http, f"{urls['inventory']}/stock")
        notes = _get(http, f"{urls['notification']}/notifications/summary")
        notified = told(http, urls["notification"])
    return Books(
        orders=[Order(*row) for row in orders["orders"]],
        confirmed_units=units["confirmed_units"],
        payments=[(str(o), str(s), int(c)) for o, s, c in payments],
        stock=stock,
        notification_repeats=int(notes["duplicates"]),
        told=notified,
    )


def settle(
    urls: Mapping[str, str], style: str | None, accepted: Collection[str], grace_s: float
) -> tuple[Books, float]:
    """The books once every accepted request has an order, no order is in flight and every
    finished order's customer has been told (the notifications owed have drained), or when the
    grace period is over; and how long that took. (A command still queued on the broker has no
    order yet: it is late, not lost, until the grace period is over.)"""
    started = time.monotonic()
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as http:
        while time.monotonic() - started < grace_s:
            orders = [Order(*row) for row in _orders_view(http, urls["order"], style)["orders"]]
            keys = {order.key for order in orders}
            settled = all(o.finished for o in orders) and all(key in keys for key in accepted)
            # Notification's view is read only then: it lists every notification of the run.
            if settled and not _unnotified(orders, told(http, urls["notification"])):
                break
            time.sleep(POLL_S)
    waited = time.monotonic() - started
    return read_books(urls, style), round(waited, 1)


def audit_run(
    urls: Mapping[str, str],
    style: str,
    accepted: Collection[str],
    grace_s: float = DEFAULT_GRACE_S,
    *,
    shared: bool = False,
) -> dict[str, Any]:
    """Settle, then check one style's run. `shared`: other styles' orders are on the same
    stack, so only the payments of this style's orders are this style's (stock is the
    stack's, whoever placed the orders)."""
    books, waited_s = settle(urls, style, accepted, grace_s)
    return {**check(books, accepted, shared=shared), "waited_s": waited_s}


def check(books: Books, accepted: Collection[str], *, shared: bool = False) -> dict[str, Any]:
    """The audit's counts, what the stores hold by status, and a few examples of each problem."""
    if shared:
        ours = {order.id for order in books.orders}
        books = replace(books, payments=[p for p in books.payments if p[0] in ours])
    problems: dict[str, list[str]] = {name: [] for name in AUDIT_COUNTS}
    keys = {order.key for order in books.orders}
    problems["lost"] = [f"request {key} left no order" for key in accepted if key not in keys]
    problems["stuck"] = [
        f"order {o.id} is {o.status} (saga {o.saga})" for o in books.orders if not o.finished
    ]
    _money(books, problems)
    problems["stock_not_conserved"] = _stock(books)
    problems["missing_notifications"] = [
        f"order {o.id} is {o.status}, its customer was told {books.told.get(o.id, 'nothing')}"
        for o in _unnotified(books.orders, books.told)
    ]
    counts = {name: len(found) for name, found in problems.items()}
    counts["duplicate_notifications"] = books.notification_repeats
    return {
        "counts": counts,
        "orders": dict(Counter(f"{o.status}/{o.reason or '-'}" for o in books.orders)),
        "payments": dict(Counter(status for _, status, _ in books.payments)),
        "accepted": len(accepted),
        "examples": {name: found[:EXAMPLES] for name, found in problems.items() if found},
    }


def _money(books: Books, problems: dict[str, list[str]]) -> None:
    status = {order.id: order.status for order in books.orders}
    seen: Counter[str] = Counter(order_id for order_id, _, _ in books.payments)
    problems["double_charges"] = [
        f"order {order_id} has {n} payments" for order_id, n in seen.items() if n > 1
    ]
    problems["unrefunded_charges"] = [
        f"order {order_id} is {status.get(order_id, 'missing')} but kept {cents} cents"
        for order_id, state, cents in books.payments
        if state == "CHARGED" and status.get(order_id) != "CONFIRMED"
    ]
    charged = {order_id for order_id, state, _ in books.payments if state == "CHARGED"}
    problems["unpaid_confirmed"] = [
        f"order {order.id} is CONFIRMED without a charge"
        for order in books.orders
        if order.status == "CONFIRMED" and order.id not in charged
    ]


def _unnotified(orders: list[Order], told: Mapping[str, str]) -> list[Order]:
    """Finished orders whose customer was not told their outcome. (An order still in flight
    owes no notification yet: it is stuck, if anything.)"""
    return [o for o in orders if o.finished and told.get(o.id) != told_kind(o.status)]


def _stock(books: Books) -> list[str]:
    found = []
    for sku, row in sorted(books.stock.items()):
        if row["initial"] != row["available"] + row["held"]:
            found.append(
                f"{sku}: initial {row['initial']} != available {row['available']}"
                f" + held {row['held']}"
            )
        elif row["held"] != books.confirmed_units.get(sku, 0):
            confirmed = books.confirmed_units.get(sku, 0)
            found.append(f"{sku}: {row['held']} units held, {confirmed} in confirmed orders")
    return found


def _orders_view(http: httpx.Client, url: str, style: str | None) -> dict[str, Any]:
    view: dict[str, Any] = _get(http, f"{url}/audit", {"style": style} if style else None)
    return view


def _get(http: httpx.Client, url: str, params: Mapping[str, str] | None = None) -> Any:
    answer = http.get(url, params=params)
    answer.raise_for_status()
    return answer.json()
