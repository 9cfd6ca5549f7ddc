"""Orders over REST: place (with Idempotency-Key), read, list, explain (saga log) and audit.

Placing answers the finished order (201, the orchestrated saga), or, with `Prefer:
respond-async`, 202 at once (the choreography's place use case: the order and its
order.placed in one transaction). Reading can wait for a change (long polling); the status
stream is sse.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from services.kernel import styles
from services.kernel.contracts import MAX_LINES, MAX_URL_LENGTH
from services.kernel.http.app import handlers_of
from services.kernel.http.problem import problem_responses
from services.kernel.http.schemas import (
    AuditPage,
    LineBody,
    StrictBody,
    documented,
    identifier,
    identifier_in_path,
    identifier_in_query,
    one_of_in_query,
    page_json,
    payment_token,
)
from services.kernel.paging import PAGES
from services.order.api import prefer
from services.order.choreography import OrderChoreography
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
    # Checked against the allow-list by the use case (422 `INVALID_REQUEST`, field callback_url).
    callback_url: str | None = documented(None, minLength=1, maxLength=MAX_URL_LENGTH)


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


async def choreography_of(request: Request) -> OrderChoreography | None:
    """The broker style's use cases, when the composition root gave them (else REST places
    synchronously whatever the client prefers: RFC 7240 lets a server ignore a preference)."""
    found = getattr(request.app.state, "choreography", None)
    return found if isinstance(found, OrderChoreography) else None


Choreography = Annotated[OrderChoreography | None, Depends(choreography_of)]
Prefer = Header(
    alias="Prefer",
    description="RFC 7240. `respond-async` (and `flow=orchestrated`) on POST /orders; "
    "`wait=N` (seconds) on GET.",
    json_schema_extra={"maxLength": prefer.MAX_PREFER_LENGTH},
)
Wait = Query(json_schema_extra=prefer.optional_string(prefer.WAIT_PATTERN))
ACCEPTED_ASYNC: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "With `Prefer: respond-async`: the order is recorded (PENDING) and its "
        "order.placed event written in the same transaction; the choreography runs from there "
        "(with `flow=orchestrated` too: the saga runs from there). "
        "`Location` names the order; follow it with GET /orders/{id}?wait=… or "
        "GET /orders/{id}/events."
    },
    503: {
        **problem_responses(503)[503],
        "description": "With `Prefer: respond-async, flow=orchestrated`, while this process "
        "already drives as many orders as it may (`TOO_MANY_ORDERS_IN_FLIGHT`): nothing was "
        "recorded; retry after `Retry-After` seconds.",
    },
}


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    summary="Place an order and run its saga; answers with the order in its final state",
    description=(
        "The same Idempotency-Key with the same body returns the same order (never a second "
        "charge); with a different body it is refused with 422. An order for a SKU the catalog "
        "does not know is answered 422 (the order is recorded as REJECTED/UNKNOWN_SKU). With "
        "`Prefer: respond-async` the order is accepted at once (202, `Preference-Applied`) and "
        "placed in the broker style: its events carry it on (an unknown SKU ends it REJECTED). "
        "With `Prefer: respond-async, flow=orchestrated` it is accepted at once too, and this "
        "service's saga runs it as for the synchronous answer (REST downstream)."
    ),
    responses=ACCEPTED_ASYNC,
)
async def place_order(
    body: PlaceOrderBody,
    response: Response,
    use: Handlers,
    choreography: Choreography,
    idempotency_key: Annotated[str | None, IdempotencyKey] = None,
    prefer_header: Annotated[str | None, Prefer] = None,
) -> Any:
    command = PlaceOrder(
        customer_id=body.customer_id,
        lines=tuple(item.to_line() for item in body.items),
        payment_token=body.payment_token,
        idempotency_key=idempotency_key,
        callback_url=body.callback_url,
    )
    wanted = prefer.preferences(prefer_header)
    if prefer.orchestrated_async(wanted):
        order, created = await use.accept_order(command)  # TooManySagas: 503, Retry-After
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Preference-Applied"] = prefer.ORCHESTRATED_ASYNC
    elif choreography and prefer.RESPOND_ASYNC in wanted:
        order, created = await choreography.accept(command)
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Preference-Applied"] = prefer.RESPOND_ASYNC
    else:
        order, created = await use.place_order(command)
    response.headers["Location"] = f"/orders/{order.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return document(order)


@router.get(
    "/orders/{order_id}",
    summary="One order; with a wait, as soon as its status changes (long polling)",
    description=(
        "`?wait=10s` (up to 30 s; or `Prefer: wait=10`, capped at 30) holds the request until "
        "the order's status differs from the one it has when the request arrives, or is final "
        "already, or the wait ends; it answers the order as it is then (200 either way: compare "
        "`status`). `?wait` wins over `Prefer: wait`; a bad `?wait` is refused with 422. A "
        "wait while the process follows as many orders as it may (`ORDERFLOW_MAX_WATCHERS`) is "
        "refused with 503 `TOO_MANY_WATCHERS` and `Retry-After`."
    ),
    responses=problem_responses(404, 422, 503),
)
async def get_order(
    order_id: OrderId,
    use: Handlers,
    response: Response,
    wait: Annotated[
        str | None, Query(json_schema_extra=prefer.optional_string(prefer.WAIT_PATTERN))
    ] = None,
    prefer_header: Annotated[str | None, Prefer] = None,
) -> dict[str, Any]:
    wait_s = prefer.wait_from_query(wait)
    if wait_s is None and (wait_s := prefer.wait_from_prefer(prefer.preferences(prefer_header))):
        response.headers["Preference-Applied"] = f"wait={wait_s:g}"
    if not wait_s:
        return document(await use.get_order(order_id))
    return document(await use.await_change(order_id, wait_s))


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
        "the page's CONFIRMED orders per SKU (add up the pages' for all). `style` keeps only the "
        "orders that came in by that style. " + PAGES
    ),
    responses=problem_responses(422),
)
async def audit(
    use: Handlers,
    page: AuditPage,
    style: Annotated[str | None, one_of_in_query(list(styles.ALL))] = None,
) -> dict[str, Any]:
    found = await use.audit(style, page)
    return {**page_json("orders", found.orders), "confirmed_units": found.confirmed_units}
