"""Notification rules: which order outcomes are told, and how they read (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.kernel.contracts import MAX_URL_LENGTH, check_identifier
from services.kernel.errors import Conflict, InvalidRequest


class NotificationKind(StrEnum):
    CONFIRMED = "order.confirmed"
    CANCELLED = "order.cancelled"
    REJECTED = "order.rejected"


@dataclass(frozen=True)
class NotificationRequest:
    order_id: str
    customer_id: str
    kind: str
    reason: str | None = None
    total_cents: int | None = None
    callback_url: str | None = None  # where a webhook tells the final order, if anywhere
    # The final order (the shared order document): what its webhook carries (the receiver gets
    # the order, not a summary it would have to look up). Without it a webhook is recorded dead.
    order: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Notice:
    """A notification ready to record: who is told what about which order."""

    order_id: str
    customer_id: str
    kind: NotificationKind
    reason: str | None
    message: str


@dataclass(frozen=True)
class Notification:
    """A recorded notice; `duplicates` counts repeats that upstream sent and were not stored."""

    order_id: str
    customer_id: str
    kind: NotificationKind
    reason: str | None
    message: str
    created_at: str
    duplicates: int


class OutcomeConflict(Conflict):
    code = "OUTCOME_CONFLICT"


def check_same_outcome(told: Notification, notice: Notice) -> None:
    """A repeat of what the customer was told is fine; another outcome of the same order is
    not (an order ends once), and is refused rather than told."""
    if told.kind is not notice.kind:
        raise OutcomeConflict(
            f"order {told.order_id} was already told {told.kind.value}, not {notice.kind.value}",
            order_id=told.order_id,
        )


def compose(request: NotificationRequest) -> Notice:
    """Validate a request and render the message the customer reads."""
    check_identifier("order_id", request.order_id)
    check_identifier("customer_id", request.customer_id)
    kind = parse_kind(request.kind)
    if request.reason is not None:
        check_identifier("reason", request.reason)
    if request.total_cents is not None and request.total_cents < 0:
        raise InvalidRequest("total_cents must not be negative", field="total_cents")
    # Its shape only: a URL off the allow-list is recorded as a dead webhook (webhooks.py),
    # so a configuration that differs from order's never costs the customer the notice.
    if request.callback_url is not None and not 0 < len(request.callback_url) <= MAX_URL_LENGTH:
        raise InvalidRequest(
            f"callback_url must be 1-{MAX_URL_LENGTH} characters", field="callback_url"
        )
    message = render_message(request.order_id, kind, request.reason, request.total_cents)
    return Notice(request.order_id, request.customer_id, kind, request.reason, message)


def _check_order(request: NotificationRequest) -> None:
    if request.callback_url is not None and request.order is None:
        raise InvalidRequest(
            "a callback_url needs the final order its webhook sends", field="order"
        )
    if request.order is not None and request.order.get("id") != request.order_id:
        raise InvalidRequest("order is another order than order_id names", field="order")


def parse_kind(raw: str) -> NotificationKind:
    try:
        return NotificationKind(raw)
    except ValueError:
        kinds = [kind.value for kind in NotificationKind]
        raise InvalidRequest(f"kind must be one of {kinds}", field="kind") from None


def render_message(
    order_id: str, kind: NotificationKind, reason: str | None, total_cents: int | None
) -> str:
    text = f"Order {order_id} {kind.value.removeprefix('order.')}"
    if kind is NotificationKind.CONFIRMED:
        return text if total_cents is None else f"{text}: {format_cents(total_cents)} total"
    return text if reason is None else f"{text} ({reason})"


def format_cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def check_filters(order_id: str | None, customer_id: str | None) -> None:
    """Listing everything is not offered: an audit or a customer always asks about someone."""
    if order_id is None and customer_id is None:
        raise InvalidRequest("give order_id, customer_id or both", field="order_id")
    if order_id is not None:
        check_identifier("order_id", order_id)
    if customer_id is not None:
        check_identifier("customer_id", customer_id)
