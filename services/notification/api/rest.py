"""Notification over REST: record and list what customers were told. Parse, call, map."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response, status
from pydantic import Field

from services.kernel.contracts import IDENTIFIER_PATTERN, MAX_ID_LENGTH, MAX_LINES, MAX_URL_LENGTH
from services.kernel.http.app import handlers_of
from services.kernel.http.problem import REPLAYED, problem_responses
from services.kernel.http.schemas import (
    IDENTIFIER_LIMITS,
    AuditPage,
    StrictBody,
    WholeNumber,
    documented,
    identifier,
    identifier_in_query,
    page_json,
)
from services.kernel.paging import PAGES
from services.notification.domain import Notification, NotificationKind, NotificationRequest
from services.notification.handlers import NotificationHandlers
from services.notification.webhook_store import State, Webhook

PROBLEM_STATUSES: dict[str, int] = {}


# Checked here, not only documented: notification's domain does not read the order, it sends it.
Identifier = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=IDENTIFIER_PATTERN)
]
# Whole numbers as every body takes them (1.0 is 1); the bound enforced and shown in OpenAPI.
Cents = Annotated[WholeNumber, Field(ge=0, json_schema_extra={"minimum": 0})]


class FinalOrderLine(StrictBody):
    sku: Identifier
    quantity: Annotated[WholeNumber, Field(ge=1, json_schema_extra={"minimum": 1})]
    unit_price_cents: Cents | None


class FinalOrder(StrictBody):
    """The order in its final state, the shared order document (docs/architecture.md §2): what
    the order's webhook sends, whole."""

    id: Identifier
    customer_id: Identifier
    status: Literal["CONFIRMED", "CANCELLED", "REJECTED"]
    reason: Identifier | None
    items: Annotated[list[FinalOrderLine], Field(max_length=MAX_LINES)]
    total_cents: Cents | None
    created_at: Annotated[str, Field(max_length=64)]
    updated_at: Annotated[str, Field(max_length=64)]


class NotifyBody(StrictBody):
    order_id: str = identifier()
    customer_id: str = identifier()
    kind: str = documented(enum=[kind.value for kind in NotificationKind])
    reason: str | None = documented(None, **IDENTIFIER_LIMITS)
    total_cents: WholeNumber | None = documented(None, minimum=0)
    # Checked against the allow-list again: a refused URL is recorded as a dead webhook.
    callback_url: str | None = documented(None, minLength=1, maxLength=MAX_URL_LENGTH)
    # The final order, as its webhook sends it: required with a callback_url.
    order: FinalOrder | None = None

    def to_request(self) -> NotificationRequest:
        return NotificationRequest(
            self.order_id,
            self.customer_id,
            self.kind,
            self.reason,
            self.total_cents,
            self.callback_url,
            None if self.order is None else self.order.model_dump(mode="json"),
        )


Handlers = Annotated[NotificationHandlers, Depends(handlers_of(NotificationHandlers))]
router = APIRouter(tags=["notification"])


@router.post(
    "/notifications",
    status_code=status.HTTP_201_CREATED,
    summary="Record that a customer was told an order's outcome (once per order)",
    description=(
        "201 with the notification when it is new. A repeat of it (a redelivery) is not told "
        "again: 200 with the notification recorded the first time. Another outcome for an order "
        "already told is refused: 409 `OUTCOME_CONFLICT`."
    ),
    responses={**REPLAYED, **problem_responses(409)},
)
async def notify(body: NotifyBody, response: Response, use: Handlers) -> dict[str, Any]:
    notification, created = await use.notify(body.to_request())
    if not created:
        response.status_code = status.HTTP_200_OK
    return notification_json(notification)


@router.get("/notifications", summary="Notifications of an order and/or a customer, newest first")
async def list_notifications(
    use: Handlers,
    order_id: Annotated[str | None, identifier_in_query()] = None,
    customer_id: Annotated[str | None, identifier_in_query()] = None,
) -> dict[str, list[dict[str, Any]]]:
    found = await use.list(order_id=order_id, customer_id=customer_id)
    return {"notifications": [notification_json(n) for n in found]}


@router.get(
    "/audit",
    summary="Every notification's order and kind, by order id (for audits)",
    description="`notifications` rows are `[order_id, kind]`; one per order at most. " + PAGES,
    responses=problem_responses(422),
)
async def audit(use: Handlers, page: AuditPage) -> dict[str, Any]:
    return page_json("notifications", await use.told(page))


@router.get("/notifications/summary", summary="Notifications stored and duplicates seen")
async def summary(use: Handlers) -> dict[str, int]:
    return await use.summary()


@router.get(
    "/webhooks",
    summary="Webhooks in one state, newest first (state=dead: the dead-letter record)",
    description="`owed` are still being tried, `delivered` were taken by a receiver (2xx), "
    "`dead` were given up after the last retry or refused; `last_error` says why.",
)
async def list_webhooks(
    use: Handlers, state: State = State.DEAD
) -> dict[str, list[dict[str, Any]]]:
    return {"webhooks": [webhook_json(w) for w in await use.webhooks(state)]}


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "order_id": webhook.order_id,
        "customer_id": webhook.customer_id,
        "url": webhook.url,
        "state": webhook.state.value,
        "attempts": webhook.attempts,
        "last_error": webhook.last_error,
        "updated_at": webhook.updated_at,
    }


def notification_json(notification: Notification) -> dict[str, Any]:
    return {
        "order_id": notification.order_id,
        "customer_id": notification.customer_id,
        "kind": notification.kind.value,
        "reason": notification.reason,
        "message": notification.message,
        "created_at": notification.created_at,
        "duplicates": notification.duplicates,
    }
