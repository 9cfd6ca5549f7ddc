from __future__ import annotations

import pytest

from services.kernel.contracts import TOKEN_APPROVES, TOKEN_DECLINES
from services.kernel.errors import InvalidRequest
from services.payment.domain import (
    MAX_AMOUNT_CENTS,
    ChargeRequest,
    ChargeVoided,
    Payment,
    PaymentMismatch,
    PaymentStatus,
    after_refund,
    check_replay,
    decide,
)

REQUEST = ChargeRequest("ord-1", "cust-1", 14997, TOKEN_APPROVES)


def recorded(status: PaymentStatus, request: ChargeRequest = REQUEST) -> Payment:
    return Payment(
        request.order_id,
        request.customer_id,
        request.amount_cents,
        request.token,
        status,
        created_at="2025-01-01T00:00:00.000Z",
        updated_at="2025-01-01T00:00:00.000Z",
    )


def voided(order_id: str = "ord-1") -> Payment:
    stamp = "2025-01-01T00:00:00.000Z"
    return Payment(order_id, None, 0, None, PaymentStatus.VOIDED, stamp, stamp)


def test_approving_token_charges() -> None:
    assert decide(REQUEST) is PaymentStatus.CHARGED


def test_declining_token_is_a_recorded_decline_not_an_error() -> None:
    request = ChargeRequest("ord-1", "cust-1", 100, TOKEN_DECLINES)
    assert decide(request) is PaymentStatus.DECLINED


def test_unknown_token_is_invalid() -> None:
    with pytest.raises(InvalidRequest) as caught:
        decide(ChargeRequest("ord-1", "cust-1", 100, "tok_mastercard"))
    assert caught.value.details["field"] == "payment_token"


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT_CENTS + 1])
def test_amount_out_of_range_is_invalid(amount: int) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decide(ChargeRequest("ord-1", "cust-1", amount, TOKEN_APPROVES))
    assert caught.value.details["field"] == "amount_cents"


def test_largest_amount_is_accepted() -> None:
    request = ChargeRequest("ord-1", "cust-1", MAX_AMOUNT_CENTS, TOKEN_APPROVES)
    assert decide(request) is PaymentStatus.CHARGED


@pytest.mark.parametrize(
    ("order_id", "customer_id", "field"),
    [("", "cust-1", "order_id"), ("ord-1", " cust", "customer_id"), ("x" * 65, "c", "order_id")],
)
def test_bad_identifiers_are_invalid(order_id: str, customer_id: str, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decide(ChargeRequest(order_id, customer_id, 100, TOKEN_APPROVES))
    assert caught.value.details["field"] == field


@pytest.mark.parametrize("status", [PaymentStatus.CHARGED, PaymentStatus.DECLINED])
def test_faithful_replay_returns_the_first_outcome(status: PaymentStatus) -> None:
    existing = recorded(status)
    assert check_replay(existing, REQUEST) is existing


def test_replay_after_refund_returns_the_refund_and_does_not_charge_again() -> None:
    existing = recorded(PaymentStatus.REFUNDED)
    assert check_replay(existing, REQUEST).status is PaymentStatus.REFUNDED


def test_charge_after_a_void_is_refused() -> None:
    with pytest.raises(ChargeVoided) as caught:
        check_replay(voided(), REQUEST)
    assert caught.value.code == "CHARGE_VOIDED"


@pytest.mark.parametrize(
    "changed",
    [
        ChargeRequest("ord-1", "cust-2", 14997, TOKEN_APPROVES),
        ChargeRequest("ord-1", "cust-1", 14998, TOKEN_APPROVES),
        ChargeRequest("ord-1", "cust-1", 14997, TOKEN_DECLINES),
    ],
)
def test_replay_with_different_details_is_a_mismatch(changed: ChargeRequest) -> None:
    with pytest.raises(PaymentMismatch) as caught:
        check_replay(recorded(PaymentStatus.CHARGED), changed)
    assert caught.value.code == "IDEMPOTENCY_MISMATCH"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (PaymentStatus.CHARGED, PaymentStatus.REFUNDED),
        (PaymentStatus.DECLINED, PaymentStatus.DECLINED),
        (PaymentStatus.REFUNDED, PaymentStatus.REFUNDED),
        (PaymentStatus.VOIDED, PaymentStatus.VOIDED),
    ],
)
def test_only_charged_money_is_refunded(before: PaymentStatus, after: PaymentStatus) -> None:
    assert after_refund(recorded(before)) is after
