"""The shopper's task mix, written once for every style: how often each task runs, what an
order contains, and which outcome the business rules promise for it.

A declined card and a sold-out item are business outcomes, not errors: the harness counts an
order as failed only when it ends otherwise than the rules say (or not at all).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any, Final

from services.kernel.contracts import PLENTY, SEEDED_CATALOG

TASK_WEIGHTS: Final = {"browse_catalog": 4, "place_order": 4, "get_order": 2}
DECLINED_SHARE: Final = 0.05
OUT_OF_STOCK_SHARE: Final = 0.05
EVERYDAY: Final = tuple(product.sku for product in SEEDED_CATALOG if product.available >= PLENTY)
SOLD_OUT: Final = next(product.sku for product in SEEDED_CATALOG if product.available == 0)


class UnexpectedOutcome(Exception):
    """An order ended otherwise than the business rules promise for what was ordered."""


@dataclass(frozen=True)
class OrderPlan:
    request: dict[str, Any]  # the shared place-order shape, with an idempotency_key
    status: str  # the terminal status the rules promise
    reason: str | None

    @property
    def accepted(self) -> dict[str, str]:
        """What `order_completed` reports with: its key, so the audit after a run can tell an
        accepted request that left no order (a lost one) by the key the client sent."""
        return {"idempotency_key": self.request["idempotency_key"]}

    def check(self, status: str, reason: str | None) -> None:
        if (status, reason) != (self.status, self.reason):
            promised = f"{self.status}/{self.reason}" if self.reason else self.status
            raise UnexpectedOutcome(f"expected {promised}, got {status}/{reason}")


def plan_order(rng: random.Random, customer_id: str) -> OrderPlan:
    """Mostly a good card for everyday items; a small share declined, a small share sold out."""
    draw = rng.random()
    items = [
        {"sku": sku, "quantity": rng.randint(1, 2)}
        for sku in rng.sample(EVERYDAY, rng.randint(1, 3))
    ]
    if draw < DECLINED_SHARE:
        return OrderPlan(
            _request(customer_id, items, "tok_chargeDeclined"), "CANCELLED", "PAYMENT_DECLINED"
        )
    if draw < DECLINED_SHARE + OUT_OF_STOCK_SHARE:
        items.append({"sku": SOLD_OUT, "quantity": 1})
        return OrderPlan(_request(customer_id, items, "tok_visa"), "REJECTED", "OUT_OF_STOCK")
    return OrderPlan(_request(customer_id, items, "tok_visa"), "CONFIRMED", None)


def _request(customer_id: str, items: list[dict[str, Any]], token: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "items": items,
        "payment_token": token,
        "idempotency_key": f"load-{uuid.uuid4().hex}",
    }
