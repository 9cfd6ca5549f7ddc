"""Parity: the same scripted orders, placed through each request/response style, end in the same
states and totals, and move the same stock and money. The business rules live once, so any
difference here is a bug in an adapter or a client.

Each style places the script for customers of its own; everything is read back the same way
(REST), so the comparison does not depend on the style under test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness import audit
from harness.clients import graphql, grpc, rest, websocket
from harness.clients.shapes import Placed, Request, order_request
from harness.stack.supervisor import Stack
from tests.e2e import grpc_client, ws_client

# (items, token, idempotency key used twice?) — confirmed, declined, out of stock, unknown SKU,
# several lines, and a retried request.
SCRIPT: list[tuple[dict[str, int], str, bool]] = [
    ({"KB-MECH": 2}, "tok_visa", False),
    ({"MOUSE-WL": 1}, "tok_chargeDeclined", False),
    ({"MUG-RETIRED": 1}, "tok_visa", False),
    ({"NO-SUCH-SKU": 1}, "tok_visa", False),
    ({"CABLE-USBC": 3, "HEADSET": 1}, "tok_visa", False),
    ({"MON-27": 1}, "tok_visa", True),
]

# What a style's own answer said: (status, reason, total_cents, order id).
Answer = tuple[str, str | None, int | None, str]
Placer = Callable[[Stack, dict[str, int], str, str, str | None], Answer]


def place_rest(stack: Stack, request: Request) -> Placed:
    with httpx.Client(timeout=30) as http:
        return rest.place(http, stack.url("order"), request)


def place_grpc(stack: Stack, request: Request) -> Placed:
    with grpc_client.channel(stack, "order") as channel:
        return grpc.place(channel, request)


def place_graphql(stack: Stack, request: Request) -> Placed:
    with httpx.Client(timeout=30) as http:
        return graphql.place(http, stack.url("order"), request)


def place_websocket(stack: Stack, request: Request) -> Placed:
    with ws_client.rpc_socket(stack) as socket:
        return websocket.place(socket, request)


def answering(place: Callable[[Stack, Request], Placed]) -> Placer:
    """The placer of a script line: its order placed by `place`, its answer as a tuple."""

    def placer(
        stack: Stack, items: dict[str, int], token: str, customer: str, key: str | None
    ) -> Answer:
        placed = place(stack, order_request(items, token, customer, key))
        return placed.status, placed.reason, placed.total_cents, placed.order_id

    return placer


PLACERS: dict[str, Placer] = {
    "rest": answering(place_rest),
    "grpc": answering(place_grpc),
    "graphql": answering(place_graphql),
    "websocket": answering(place_websocket),
}


def run_script(stack: Stack, style: str) -> tuple[list[Any], dict[str, int], dict[str, int]]:
    """Place the script in `style`; return the orders as REST shows them, and the stock and
    payment deltas the script caused."""
    urls = {s: stack.url(s) for s in ("order", "inventory", "payment", "notification")}
    before = audit.snapshot(urls)
    customers = []
    for number, (items, token, retried) in enumerate(SCRIPT):
        customer = f"parity-{style}-{number}"
        key = f"parity-{style}-{number}" if retried else None
        said = [PLACERS[style](stack, items, token, customer, key) for _ in range(1 + retried)]
        stored = httpx.get(f"{urls['order']}/orders", params={"customer_id": customer}).json()
        # The style's own answer (and its replay's) is the order as it was recorded.
        recorded = [(o["status"], o["reason"], o["total_cents"], o["id"]) for o in stored["orders"]]
        assert said == recorded * len(said), f"{style}: answered {said}, recorded {recorded}"
        customers.append(customer)
    ledger = audit.account(urls, customers, before, grace_s=30)
    assert ledger.clean, f"{style}: {ledger.summary()}"
    after = audit.snapshot(urls)
    orders = [
        httpx.get(f"{urls['order']}/orders", params={"customer_id": c}).json()["orders"]
        for c in customers
    ]
    shapes = [
        [(o["status"], o["reason"], o["total_cents"], o["items"]) for o in found]
        for found in orders
    ]
    held = {sku: after.held[sku] - before.held.get(sku, 0) for sku in after.held}
    paid = {k: after.payments[k] - before.payments.get(k, 0) for k in after.payments}
    return shapes, held, paid


@pytest.fixture(scope="module")
def outcomes(stack: Stack) -> dict[str, tuple[list[Any], dict[str, int], dict[str, int]]]:
    return {style: run_script(stack, style) for style in PLACERS}


def test_the_script_has_the_expected_outcomes_over_rest(
    outcomes: dict[str, tuple[list[Any], dict[str, int], dict[str, int]]],
) -> None:
    shapes, held, paid = outcomes["rest"]
    assert [found[0][:3] for found in shapes] == [
        ("CONFIRMED", None, 17998),
        ("CANCELLED", "PAYMENT_DECLINED", 2999),
        ("REJECTED", "OUT_OF_STOCK", None),
        ("REJECTED", "UNKNOWN_SKU", None),
        ("CONFIRMED", None, 3 * 999 + 5499),
        ("CONFIRMED", None, 24999),
    ]
    assert all(len(found) == 1 for found in shapes)  # the retried request made one order
    assert held == {
        **dict.fromkeys(held, 0),
        "KB-MECH": 2,
        "CABLE-USBC": 3,
        "HEADSET": 1,
        "MON-27": 1,
    }
    assert (paid["CHARGED"], paid["DECLINED"]) == (3, 1)


@pytest.mark.parametrize("style", ["grpc", "graphql", "websocket"])
def test_every_style_ends_like_rest(
    style: str, outcomes: dict[str, tuple[list[Any], dict[str, int], dict[str, int]]]
) -> None:
    assert outcomes[style] == outcomes["rest"]
