"""Payment rules: the token decides, the order id is the idempotency key (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from services.kernel.contracts import TOKEN_APPROVES, check_identifier, check_payment_token
from services.kernel.errors import Conflict, InvalidRequest

MAX_AMOUNT_CENTS: Final = 1_000_000_000


class PaymentStatus(StrEnum):
    CHARGED = "CHARGED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"


@dataclass(frozen=True)
class ChargeRequest:
    order_id: str
    customer_id: str
    amount_cents: int
    token: str


@dataclass(frozen=True)
class Payment:
    """One order's payment. A VOIDED marker has no customer, amount or token: none was charged."""

    order_id: str
    customer_id: str | None
    amount_cents: int
    token: str | None
    status: PaymentStatus
    created_at: str
    updated_at: str


class ChargeVoided(Conflict):
    """The order was refunded (compensated) before this charge arrived: refuse it late."""

    code = "CHARGE_VOIDED"


class PaymentMismatch(Conflict):
    code = "IDEMPOTENCY_MISMATCH"


def decide(request: ChargeRequest) -> PaymentStatus:
    """Validate a charge and decide its outcome; a decline is a recorded result, not an error."""
    check_identifier("order_id", request.order_id)
    check_identifier("customer_id", request.customer_id)
    if not 0 < request.amount_cents <= MAX_AMOUNT_CENTS:
        raise InvalidRequest(
            f"amount_cents must be between 1 and {MAX_AMOUNT_CENTS}", field="amount_cents"
        )
    check_payment_token(request.token)
    return PaymentStatus.CHARGED if request.token == TOKEN_APPROVES else PaymentStatus.DECLINED


def check_replay(existing: Payment, request: ChargeRequest) -> Payment:
    """A repeated charge returns the first outcome as it now stands; it never charges again."""
    if existing.status is PaymentStatus.VOIDED:
        raise ChargeVoided(
            f"payment for order {existing.order_id} was voided by an earlier refund",
            order_id=existing.order_id,
        )
    if (existing.customer_id, existing.amount_cents, existing.token) != (
        request.customer_id,
        request.amount_cents,
        request.token,
    ):
        raise PaymentMismatch(
            f"order {existing.order_id} was already charged with different details",
            order_id=existing.order_id,
        )
    return existing


def after_refund(existing: Payment) -> PaymentStatus:
    """Only taken money goes back; a declined, refunded or voided payment stays as it is."""
    if existing.status is PaymentStatus.CHARGED:
        return PaymentStatus.REFUNDED
    return existing.status
