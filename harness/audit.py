"""The audit after a run: wait (up to a grace period) for in-flight work to finish, then check the
invariants across the services' stores, each defined once below, and count what breaks them.

- lost: a request that left no order (bench and scenarios know a request by its idempotency
  key, the e2e tests by a customer id of its own);
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

Two reports share these definitions. `audit_run` (bench, scenarios) audits a whole style's run
on a stack of its own and gives results.json's counts. `account` (the e2e tests, in the spirit
of Jepsen's total-queue checker) audits the requests of one test on a stack that other tests
share, so its effects are checked as deltas from a `snapshot` taken before: units held equal
the units of the confirmed orders, charges equal confirmed orders (and their totals), declines
equal orders cancelled for a declined card; it also counts a request that made more than one
order (duplicated).

It reads each service's audit view over HTTP (order, payment and notification `GET /audit`,
every page of it; inventory `GET /stock`, notification `GET /notifications/summary`), so the
stores stay their owners'.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import httpx

from harness.vocabulary import AUDIT_COUNTS, TERMINAL

DEFAULT_GRACE_S: Final = 30.0
POLL_S: Final = 0.25
EXAMPLES: Final = 10
TIMEOUT_S: Final = 30.0

Payment = tuple[str, str, int]  # order id, status, cents


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
    payments: list[Payment]
    stock: Mapping[str, Mapping[str, int]]  # sku: initial, available, held
    notification_repeats: int
    told: Mapping[str, str]  # order id: the outcome its customer was told (`order.confirmed`...)


# The invariants, one definition each, over what the stores hold.


def lost(requests: Mapping[str, Sequence[Order]]) -> list[str]:
    """The requests (key or customer id: the orders it made) that left no order."""
    return [request for request, made in requests.items() if not made]


def stuck(orders: Iterable[Order]) -> list[str]:
    return [f"order {o.id} is {o.status} (saga {o.saga})" for o in orders if not o.finished]


def told_kind(status: str) -> str:
    """The notification a finished order's customer must get: `order.confirmed` ..."""
    return f"order.{status.lower()}"


def unnotified(orders: Iterable[Order], told: Mapping[str, str]) -> list[Order]:
    """Finished orders whose customer was not told their outcome. (An order still in flight
    owes no notification yet: it is stuck, if anything.)"""
    return [o for o in orders if o.finished and told.get(o.id) != told_kind(o.status)]


def missing_notifications(orders: Iterable[Order], told: Mapping[str, str]) -> list[str]:
    return [
        f"order {o.id} is {o.status}, its customer was told {told.get(o.id, 'nothing')}"
        for o in unnotified(orders, told)
    ]


def double_charges(payments: Iterable[Payment]) -> list[str]:
    seen: Counter[str] = Counter(order_id for order_id, _, _ in payments)
    return [f"order {order_id} has {n} payments" for order_id, n in seen.items() if n > 1]


def unrefunded_charges(orders: Iterable[Order], payments: Iterable[Payment]) -> list[str]:
    status = {order.id: order.status for order in orders}
    return [
        f"order {order_id} is {status.get(order_id, 'missing')} but kept {cents} cents"
        for order_id, state, cents in payments
        if state == "CHARGED" and status.get(order_id) != "CONFIRMED"
    ]


def unpaid_confirmed(orders: Iterable[Order], payments: Iterable[Payment]) -> list[str]:
    charged = {order_id for order_id, state, _ in payments if state == "CHARGED"}
    return [
        f"order {order.id} is CONFIRMED without a charge"
        for order in orders
        if order.status == "CONFIRMED" and order.id not in charged
    ]


def stock_not_conserved(
    stock: Mapping[str, Mapping[str, int]], confirmed_units: Mapping[str, int]
) -> list[str]:
    found = []
    for sku, row in sorted(stock.items()):
        if row["initial"] != row["available"] + row["held"]:
            found.append(
                f"{sku}: initial {row['initial']} != available {row['available']}"
                f" + held {row['held']}"
            )
        elif row["held"] != confirmed_units.get(sku, 0):
            confirmed = confirmed_units.get(sku, 0)
            found.append(f"{sku}: {row['held']} units held, {confirmed} in confirmed orders")
    return found


def outcomes(orders: Iterable[Order]) -> Counter[str]:
    """How the orders ended, as `STATUS/reason` (`CONFIRMED/-`, `CANCELLED/PAYMENT_DECLINED`)."""
    return Counter(f"{o.status}/{o.reason or '-'}" for o in orders)


# Waiting for the run to settle, for both reports.

Reading = tuple[list[Order], Mapping[str, Sequence[Order]]]  # every order; each request's


def settle(
    http: httpx.Client, notification_url: str, read: Callable[[], Reading], grace_s: float
) -> float:
    """Wait until every request has an order, no order is in flight and every finished order's
    customer has been told (the notifications owed have drained), or the grace period is over;
    return how long that took. (A command still queued on the broker has no order yet: it is
    late, not lost, until the grace period is over.)"""
    started = time.monotonic()
    while time.monotonic() - started < grace_s:
        orders, requests = read()
        settled = all(o.finished for o in orders) and not lost(requests)
        # Notification's view is read only then: it lists every notification of the run.
        if settled and not unnotified(orders, told(http, notification_url)):
            break
        time.sleep(POLL_S)
    return round(time.monotonic() - started, 1)


def told(http: httpx.Client, notification_url: str) -> dict[str, str]:
    """Order id -> the outcome its customer was told (`order.confirmed`...)."""
    notified = audit_rows(http, notification_url, "notifications")
    return {str(order_id): str(kind) for order_id, kind in notified}


# bench and scenarios: a style's whole run, as results.json's counts.


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
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as http:

        def read() -> Reading:
            orders = _audited_orders(http, urls["order"], style)
            return orders, _by_key(orders, accepted)

        waited_s = settle(http, urls["notification"], read, grace_s)
    return {**check(read_books(urls, style), accepted, shared=shared), "waited_s": waited_s}


def read_books(urls: Mapping[str, str], style: str | None) -> Books:
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as http:
        every = list(audit_pages(http, urls["order"]))
        # Each page counts the units of its own CONFIRMED orders; stock is the stack's, so the
        # units are every style's, whichever style is audited.
        units = Counter[str]()
        for page in every:
            units.update(page["confirmed_units"])
        if style is None:
            orders = [row for page in every for row in page["orders"]]
        else:
            orders = audit_rows(http, urls["order"], "orders", {"style": style})
        payments = audit_rows(http, urls["payment"], "payments")
        stock = _get(http, f"{urls['inventory']}/stock")
        notes = _get(http, f"{urls['notification']}/notifications/summary")
        notified = told(http, urls["notification"])
    return Books(
        orders=[Order(*row) for row in orders],
        confirmed_units=dict(units),
        payments=[(str(o), str(s), int(c)) for o, s, c in payments],
        stock=stock,
        notification_repeats=int(notes["duplicates"]),
        told=notified,
    )


def check(books: Books, accepted: Collection[str], *, shared: bool = False) -> dict[str, Any]:
    """The audit's counts, what the stores hold by status, and a few examples of each problem."""
    if shared:
        ours = {order.id for order in books.orders}
        books = replace(books, payments=[p for p in books.payments if p[0] in ours])
    problems: dict[str, list[str]] = {name: [] for name in AUDIT_COUNTS}
    missing = lost(_by_key(books.orders, accepted))
    problems["lost"] = [f"request {key} left no order" for key in missing]
    problems["stuck"] = stuck(books.orders)
    problems["double_charges"] = double_charges(books.payments)
    problems["unrefunded_charges"] = unrefunded_charges(books.orders, books.payments)
    problems["unpaid_confirmed"] = unpaid_confirmed(books.orders, books.payments)
    problems["stock_not_conserved"] = stock_not_conserved(books.stock, books.confirmed_units)
    problems["missing_notifications"] = missing_notifications(books.orders, books.told)
    counts = {name: len(found) for name, found in problems.items()}
    counts["duplicate_notifications"] = books.notification_repeats
    return {
        "counts": counts,
        "orders": dict(outcomes(books.orders)),
        "payments": dict(Counter(status for _, status, _ in books.payments)),
        "accepted": len(accepted),
        "examples": {name: found[:EXAMPLES] for name, found in problems.items() if found},
    }


def _by_key(orders: Iterable[Order], accepted: Collection[str]) -> dict[str, list[Order]]:
    made: dict[str, list[Order]] = {key: [] for key in accepted}
    for order in orders:
        if order.key in made:
            made[order.key].append(order)
    return made


# The e2e tests: one test's requests on a shared stack, as a Ledger.


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
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as http:
        stock = _get(http, f"{urls['inventory']}/stock")
        payments = _get(http, f"{urls['payment']}/payments/summary")
        notes = _get(http, f"{urls['notification']}/notifications/summary")
    return Snapshot(
        held={sku: row["held"] for sku, row in stock.items()},
        payments=payments,
        notification_duplicates=notes["duplicates"],
    )


def account(
    urls: Mapping[str, str],
    customers: Iterable[str],
    before: Snapshot,
    grace_s: float = DEFAULT_GRACE_S,
) -> Ledger:
    """Wait up to `grace_s` for every customer's order to finish, then check the books."""
    customers = list(customers)
    documents: dict[str, list[dict[str, Any]]] = {}
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as http:

        def read() -> Reading:
            documents.update(_customers_orders(http, urls["order"], customers))
            audited = {o.id: o for o in _audited_orders(http, urls["order"], None)}
            requests = {c: [_order(d, audited) for d in found] for c, found in documents.items()}
            return [o for made in requests.values() for o in made], requests

        settle(http, urls["notification"], read, grace_s)
        orders, requests = read()
        notified = told(http, urls["notification"])
    ledger = count_requests(requests)
    ledger.problems += missing_notifications(orders, notified)
    ledger.unnotified = len(unnotified(orders, notified))
    _check_effects(urls, before, [d for found in documents.values() for d in found], ledger)
    return ledger


def _order(document: Mapping[str, Any], audited: Mapping[str, Order]) -> Order:
    """An order as the audit sees it: the order service's audit row (saga included), or, in the
    instant before that view lists it, its document with a saga not known to be DONE."""
    found = audited.get(document["id"])
    if found is not None:
        return found
    return Order(document["id"], document["status"], document["reason"], "", None, "UNKNOWN")


def count_requests(requests: Mapping[str, Sequence[Order]]) -> Ledger:
    """The ledger of the orders each request (a customer id) made: lost, duplicated, stuck."""
    orders = [o for made in requests.values() for o in made]
    ledger = Ledger(requested=len(requests), outcomes=outcomes(orders))
    ledger.missing = lost(requests)
    ledger.lost = len(ledger.missing)
    ledger.problems += [f"{customer}: no order" for customer in ledger.missing]
    for customer, made in requests.items():
        if len(made) > 1:
            ledger.duplicated += len(made) - 1
            ledger.problems.append(f"{customer}: {len(made)} orders")
    found_stuck = stuck(orders)
    ledger.stuck = len(found_stuck)
    ledger.problems += found_stuck
    return ledger


def _check_effects(
    urls: Mapping[str, str], before: Snapshot, orders: list[dict[str, Any]], ledger: Ledger
) -> None:
    """The effects of these requests, as deltas from `before`, against their outcomes."""
    after = snapshot(urls)
    confirmed = [o for o in orders if o["status"] == "CONFIRMED"]
    declined = [o for o in orders if o["reason"] == "PAYMENT_DECLINED"]
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


# The services' views.


def _customers_orders(
    http: httpx.Client, order_url: str, customers: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    return {
        customer: _get(http, f"{order_url}/orders", {"customer_id": customer})["orders"]
        for customer in customers
    }


def _audited_orders(http: httpx.Client, order_url: str, style: str | None) -> list[Order]:
    params = {"style": style} if style else None
    return [Order(*row) for row in audit_rows(http, order_url, "orders", params)]


def audit_rows(
    http: httpx.Client, url: str, rows: str, params: Mapping[str, str] | None = None
) -> list[Any]:
    """Every row of a service's `GET /audit` (`rows`: the member that lists them)."""
    return [row for page in audit_pages(http, url, params) for row in page[rows]]


def audit_pages(
    http: httpx.Client, url: str, params: Mapping[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Every page of a service's `GET /audit`, which answers a page at a time (by order id,
    `next_after` naming where the next page starts, null on the last)."""
    query = dict(params or {})
    while True:
        page: dict[str, Any] = _get(http, f"{url}/audit", query)
        yield page
        after = page["next_after"]
        if after is None:
            return
        # Compared for equality only: the order of ids is the database's collation, not Python's.
        if after == query.get("after"):
            raise RuntimeError(f"{url}/audit gave the same page after {after!r} again")
        query["after"] = after


def _get(http: httpx.Client, url: str, params: Mapping[str, str] | None = None) -> Any:
    answer = http.get(url, params=params)
    answer.raise_for_status()
    return answer.json()
