"""The rule behind the choreography's defence in depth: which holds proven by another service's
event an order must give back (order.voided) instead of applying."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.kernel.contracts import Line
from services.order import domain
from services.order.domain import Hold, Order, PlaceOrder, Status


def order(status: Status) -> Order:
    command = PlaceOrder("ada", (Line("KB-MECH", 1),), "tok_visa", style="broker")
    return replace(domain.new_order("o-1", command, "2026-01-01T00:00:00Z"), status=status)


@pytest.mark.parametrize("hold", [Hold.STOCK, Hold.MONEY, None])
def test_whatever_is_held_for_an_order_never_placed_is_given_back(hold: Hold | None) -> None:
    assert domain.must_give_back(None, hold)


@pytest.mark.parametrize(
    ("status", "stock", "money"),
    [
        (Status.PENDING, False, False),  # in flight: the event moves it on
        (Status.RESERVED, False, False),
        (Status.PAID, False, False),
        (Status.CONFIRMED, False, False),  # a duplicate of what confirmed it
        (Status.REJECTED, True, True),  # inventory refused: nothing may be held
        (Status.CANCELLED, False, True),  # stock came back; no charge stands
    ],
)
def test_an_outcome_rules_out_the_holds_it_contradicts(
    status: Status, stock: bool, money: bool
) -> None:
    known = order(status)
    assert (domain.must_give_back(known, Hold.STOCK), domain.must_give_back(known, Hold.MONEY)) == (
        stock,
        money,
    )
    assert not domain.must_give_back(known, None)  # an event that proves no hold
