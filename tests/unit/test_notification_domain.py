from __future__ import annotations

import pytest

from services.kernel.errors import InvalidRequest
from services.notification.domain import (
    NotificationKind,
    NotificationRequest,
    check_filters,
    compose,
    format_cents,
    parse_kind,
    render_message,
)


def test_confirmed_message_shows_the_total() -> None:
    message = render_message("ord-1", NotificationKind.CONFIRMED, None, 14997)
    assert message == "Order ord-1 confirmed: 149.97 total"


def test_cancelled_message_shows_the_reason() -> None:
    message = render_message("ord-1", NotificationKind.CANCELLED, "PAYMENT_DECLINED", None)
    assert message == "Order ord-1 cancelled (PAYMENT_DECLINED)"


def test_rejected_message_shows_the_reason() -> None:
    message = render_message("ord-1", NotificationKind.REJECTED, "OUT_OF_STOCK", 500)
    assert message == "Order ord-1 rejected (OUT_OF_STOCK)"


def test_message_without_details_is_still_readable() -> None:
    assert render_message("o", NotificationKind.CONFIRMED, None, None) == "Order o confirmed"
    assert render_message("o", NotificationKind.CANCELLED, None, None) == "Order o cancelled"


@pytest.mark.parametrize(
    ("cents", "text"), [(0, "0.00"), (5, "0.05"), (100, "1.00"), (123456, "1234.56")]
)
def test_cents_are_formatted_with_two_decimals(cents: int, text: str) -> None:
    assert format_cents(cents) == text


@pytest.mark.parametrize("kind", ["order.confirmed", "order.cancelled", "order.rejected"])
def test_known_kinds_parse(kind: str) -> None:
    assert parse_kind(kind).value == kind


@pytest.mark.parametrize("kind", ["order.shipped", "ORDER.CONFIRMED", "confirmed", ""])
def test_unknown_kind_is_invalid(kind: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_kind(kind)
    assert caught.value.details["field"] == "kind"


def test_compose_validates_and_renders() -> None:
    notice = compose(NotificationRequest("ord-1", "cust-1", "order.confirmed", None, 2999))
    assert notice.kind is NotificationKind.CONFIRMED
    assert notice.customer_id == "cust-1"
    assert notice.message == "Order ord-1 confirmed: 29.99 total"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (NotificationRequest("", "cust-1", "order.confirmed"), "order_id"),
        (NotificationRequest("ord-1", "cust 1 ", "order.confirmed"), "customer_id"),
        (NotificationRequest("ord-1", "cust-1", "order.cancelled", reason=""), "reason"),
        (NotificationRequest("ord-1", "cust-1", "order.confirmed", total_cents=-1), "total_cents"),
    ],
)
def test_compose_refuses_bad_fields(request_: NotificationRequest, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        compose(request_)
    assert caught.value.details["field"] == field


def test_listing_needs_a_filter() -> None:
    with pytest.raises(InvalidRequest):
        check_filters(None, None)
    check_filters("ord-1", None)
    check_filters(None, "cust-1")


def test_listing_filters_are_checked() -> None:
    with pytest.raises(InvalidRequest):
        check_filters("", None)
