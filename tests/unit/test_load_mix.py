"""The shopper's task mix: what an order contains, how often each kind is drawn, and which outcome
the business rules promise for it."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from harness.load.mix import (
    DECLINED_SHARE,
    OUT_OF_STOCK_SHARE,
    TASK_WEIGHTS,
    OrderPlan,
    UnexpectedOutcome,
    plan_order,
)
from services.inventory.catalog import PLENTY, SEED
from tests.unit.locust_child import json_from_child

DRAWS = 4000
DECLINED_TOKEN = "tok_chargeDeclined"
# Read from the catalog here, not from mix.py, so a wrong choice there shows.
SOLD_OUT_SKUS = {product.sku for product in SEED if product.available == 0}
EVERYDAY_SKUS = {product.sku for product in SEED if product.available >= PLENTY}


def kind(plan: OrderPlan) -> str:
    """What the order contains, judged from the request alone."""
    skus = {item["sku"] for item in plan.request["items"]}
    if plan.request["payment_token"] == DECLINED_TOKEN:
        return "declined"
    if skus & SOLD_OUT_SKUS:
        return "out_of_stock"
    return "good"


@pytest.fixture(scope="module")
def plans() -> list[OrderPlan]:
    rng = random.Random(20240601)
    return [plan_order(rng, f"customer-{n % 7}") for n in range(DRAWS)]


def by_kind(plans: list[OrderPlan], wanted: str) -> list[OrderPlan]:
    chosen = [plan for plan in plans if kind(plan) == wanted]
    assert chosen, f"no {wanted} plan in {len(plans)} draws"
    return chosen


def test_the_catalog_has_one_sold_out_product_and_everyday_products() -> None:
    assert len(SOLD_OUT_SKUS) == 1
    assert len(EVERYDAY_SKUS) >= 3  # a good order draws up to three distinct everyday items


def test_the_shares_of_declined_out_of_stock_and_good_orders_follow_the_mix(
    plans: list[OrderPlan],
) -> None:
    counts = Counter(kind(plan) for plan in plans)
    shares = {name: count / DRAWS for name, count in counts.items()}
    good_share = 1.0 - DECLINED_SHARE - OUT_OF_STOCK_SHARE
    # Each bound is some six standard deviations or more from the intended share at 4000 draws:
    # generous, yet far from none at all and from double the intended share.
    assert DECLINED_SHARE * 0.6 <= shares.get("declined", 0.0) <= DECLINED_SHARE * 1.4
    assert OUT_OF_STOCK_SHARE * 0.6 <= shares.get("out_of_stock", 0.0) <= OUT_OF_STOCK_SHARE * 1.4
    assert good_share - 0.04 <= shares.get("good", 0.0) <= good_share + 0.04


def test_a_declined_order_uses_the_declined_card_and_promises_a_payment_decline(
    plans: list[OrderPlan],
) -> None:
    for plan in by_kind(plans, "declined"):
        assert plan.request["payment_token"] == DECLINED_TOKEN
        assert (plan.status, plan.reason) == ("CANCELLED", "PAYMENT_DECLINED")
        # Nothing sold out in it, or the stock check would reject it before payment.
        assert not {item["sku"] for item in plan.request["items"]} & SOLD_OUT_SKUS


def test_an_out_of_stock_order_contains_the_sold_out_product_and_promises_a_rejection(
    plans: list[OrderPlan],
) -> None:
    for plan in by_kind(plans, "out_of_stock"):
        skus = [item["sku"] for item in plan.request["items"]]
        assert set(skus) >= SOLD_OUT_SKUS
        assert len(skus) == len(set(skus))
        assert plan.request["payment_token"] != DECLINED_TOKEN  # stock is the only reason
        assert (plan.status, plan.reason) == ("REJECTED", "OUT_OF_STOCK")


def test_a_good_order_has_one_to_three_lines_of_everyday_products_and_promises_confirmation(
    plans: list[OrderPlan],
) -> None:
    for plan in by_kind(plans, "good"):
        items = plan.request["items"]
        skus = [item["sku"] for item in items]
        assert 1 <= len(items) <= 3
        assert set(skus) <= EVERYDAY_SKUS
        assert len(skus) == len(set(skus)), f"a SKU twice in {items}"
        assert all(item["quantity"] in (1, 2) for item in items), items
        assert (plan.status, plan.reason) == ("CONFIRMED", None)


def test_an_order_is_placed_for_the_customer_given(plans: list[OrderPlan]) -> None:
    assert [plan.request["customer_id"] for plan in plans] == [
        f"customer-{n % 7}" for n in range(DRAWS)
    ]


def test_every_order_has_its_own_idempotency_key(plans: list[OrderPlan]) -> None:
    keys = [plan.request["idempotency_key"] for plan in plans]
    assert all(isinstance(key, str) and key for key in keys)
    assert len(set(keys)) == len(keys)


def test_the_same_seed_draws_the_same_orders() -> None:
    def contents(seed: int) -> list[tuple[Any, ...]]:
        rng = random.Random(seed)
        drawn = [plan_order(rng, "c") for _ in range(200)]
        return [(p.request["items"], p.request["payment_token"], p.status, p.reason) for p in drawn]

    assert contents(7) == contents(7)
    assert contents(7) != contents(8)


@pytest.mark.parametrize(
    ("status", "reason"),
    [("CONFIRMED", None), ("CANCELLED", "PAYMENT_DECLINED"), ("REJECTED", "OUT_OF_STOCK")],
)
def test_check_accepts_the_promised_outcome(status: str, reason: str | None) -> None:
    OrderPlan({}, status, reason).check(status, reason)


@pytest.mark.parametrize(
    ("promised", "got", "named"),
    [
        (
            ("CONFIRMED", None),
            ("CANCELLED", "PAYMENT_FAILED"),
            ("CONFIRMED", "CANCELLED/PAYMENT_FAILED"),
        ),
        (
            ("CANCELLED", "PAYMENT_DECLINED"),
            ("CANCELLED", "PAYMENT_FAILED"),
            ("CANCELLED/PAYMENT_DECLINED", "CANCELLED/PAYMENT_FAILED"),
        ),
        (("REJECTED", "OUT_OF_STOCK"), ("CONFIRMED", None), ("REJECTED/OUT_OF_STOCK", "CONFIRMED")),
        (("CONFIRMED", None), ("CONFIRMED", "PAYMENT_DECLINED"), ("CONFIRMED", "PAYMENT_DECLINED")),
    ],
)
def test_check_refuses_any_other_outcome_naming_both(
    promised: tuple[str, str | None], got: tuple[str, str | None], named: tuple[str, str]
) -> None:
    with pytest.raises(UnexpectedOutcome) as raised:
        OrderPlan({}, *promised).check(*got)
    message = str(raised.value)
    assert named[0] in message
    assert named[1] in message


def test_the_task_weights_are_browse_4_place_4_get_2() -> None:
    assert TASK_WEIGHTS == {"browse_catalog": 4, "place_order": 4, "get_order": 2}


# harness.load.base imports Locust, which monkey-patches the standard library with gevent on
# import: not in the test process (see test_load_report.py), so the weights are read in a child.
SHOPPING_SCRIPT = """
import json
from harness.load.base import SHOPPING
print(json.dumps({task.__name__: weight for task, weight in SHOPPING.items()}))
"""


def test_the_shopping_users_run_the_tasks_with_exactly_those_weights() -> None:
    weights: dict[str, int] = json_from_child(SHOPPING_SCRIPT)
    assert weights == {
        "browse": TASK_WEIGHTS["browse_catalog"],
        "order": TASK_WEIGHTS["place_order"],
        "look_up": TASK_WEIGHTS["get_order"],
    }
