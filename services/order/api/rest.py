"""Orders over REST: place (with Idempotency-Key), read, list, explain (saga log) and audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response, status

from services.kernel import styles
from services.kernel.contracts import MAX_LINES
from services.kernel.http.app import handlers_of
from services.kernel.http.problem import problem_responses
from services.kernel.http.schemas import (
    LineBody,
    StrictBody,
    documented,
    identifier,
    identifier_in_path,
    identifier_in_query,
    one_of_in_query,
    payment_token,
)
from services.order.domain import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_IDEMPOTENCY_KEY,
    PlaceOrder,
    document,
)
from services.order.handlers import OrderHandlers

# Both are the client's input: a key reused for another order, a SKU the catalog does not know
# (domain.UnknownSku: the problem carries the recorded order as its `order` member).
PROBLEM_STATUSES = {"IDEMPOTENCY_MISMATCH": 422, "UNKNOWN_SKU": 422}


class PlaceOrderBody(StrictBody):
    customer_id: str = identifier()
    items: list[LineBody] = documented(minItems=1, maxItems=MAX_LINES)
    payment_token: str = payment_token()


Handlers = Annotated[OrderHandlers, Depends(handlers_of(OrderHandlers))]
OrderId = Annotated[str, identifier_in_path()]
IdempotencyKey = Header(
    alias="Idempotency-Key",
    json_schema_extra={
        "minLength": 1,
        "maxLength": MAX_IDEMPOTENCY_KEY,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
)
router = APIRouter(tags=["orders"])


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    summary="Place an order and run its saga; answers with the order in its final state",
    description=(
        "The same Idempotency-Key with the same body returns the same order (never a second "
        "charge); with a different body it is refused with 422. An order for a SKU the catalog "
        "does not know is answered 422 (the order is recorded as REJECTED/UNKNOWN_SKU)."
    ),
)
async def place_order(
    body: PlaceOrderBody,
    response: Response,
    use: Handlers,
    idempotency_key: Annotated[str | None, IdempotencyKey] = None,
) -> Any:
    command = PlaceOrder(
        customer_id=body.customer_id,
        lines=tuple(item.to_line() for item in body.items),
        payment_token=body.payment_token,
        idempotency_key=idempotency_key,
    )
    order, created = await use.place_order(command)
    response.headers["Location"] = f"/orders/{order.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return document(order)


@router.get("/orders/{order_id}", summary="One order", responses=problem_responses(404))
async def get_order(order_id: OrderId, use: Handlers) -> dict[str, Any]:
    return document(await use.get_order(order_id))


@router.get("/orders", summary="A customer's orders, newest first (at most 100)")
async def list_orders(
    use: Handlers, customer_id: Annotated[str, identifier_in_query()]
) -> dict[str, Any]:
    return {"orders": [document(o) for o in await use.list_orders(customer_id)]}


@router.get(
    "/orders/{order_id}/saga",
    summary="The saga log: every step this order went through",
    responses=problem_responses(404),
)
async def saga_log(order_id: OrderId, use: Handlers) -> dict[str, Any]:
    entries = await use.saga_log(order_id)
    order = await use.get_order(order_id)
    return {
        "order_id": order_id,
        "style": order.style,  # the style it came in by, and (by default) travelled downstream
        "steps": [
            {"step": e.step, "outcome": e.outcome, "detail": e.detail, "at": e.at} for e in entries
        ],
    }


@router.get(
    "/audit",
    summary="Every order's outcome, style and idempotency key, and the units confirmed per SKU"
    " (for audits)",
    description=(
        "`orders` rows are `[id, status, reason, style, idempotency_key, saga_state]`, by id; the "
        "key is the client's as it sent it (null without one); saga_state is DONE once nothing "
        "is left to give back (RUNNING, COMPENSATING before). `confirmed_units` sums the lines of "
        "CONFIRMED orders per SKU. `style` keeps only the orders that came in by that style."
    ),
    responses=problem_responses(422),
)
async def audit(
    use: Handlers, style: Annotated[str | None, one_of_in_query(list(styles.ALL))] = None
) -> dict[str, Any]:
    found = await use.audit(style)
    return {"orders": [list(row) for row in found.orders], "confirmed_units": found.confirmed_units}
