"""Payment over REST: charges, refunds and the audit reads. Parse, call one handler, map."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from services.kernel.http.app import handlers_of
from services.kernel.http.problem import REPLAYED, problem_responses
from services.kernel.http.schemas import (
    AuditPage,
    StrictBody,
    WholeNumber,
    documented,
    identifier,
    identifier_in_path,
    page_json,
    payment_token,
)
from services.kernel.paging import PAGES
from services.payment.domain import MAX_AMOUNT_CENTS, ChargeRequest, Payment
from services.payment.handlers import PaymentHandlers

# Both payment conflicts (CHARGE_VOIDED, IDEMPOTENCY_MISMATCH) keep the default 409.
PROBLEM_STATUSES: dict[str, int] = {}


class ChargeBody(StrictBody):
    order_id: str = identifier()
    customer_id: str = identifier()
    amount_cents: WholeNumber = documented(minimum=1, maximum=MAX_AMOUNT_CENTS)
    payment_token: str = payment_token()

    def to_request(self) -> ChargeRequest:
        return ChargeRequest(self.order_id, self.customer_id, self.amount_cents, self.payment_token)


Handlers = Annotated[PaymentHandlers, Depends(handlers_of(PaymentHandlers))]
router = APIRouter(tags=["payment"])
OrderId = Annotated[str, identifier_in_path()]


@router.post(
    "/charges",
    status_code=status.HTTP_201_CREATED,
    summary="Charge an order once (idempotent per order_id); a decline is recorded, not an error",
    responses={**REPLAYED, **problem_responses(409)},
)
async def charge(body: ChargeBody, response: Response, use: Handlers) -> dict[str, Any]:
    payment, created = await use.charge(body.to_request())
    if not created:
        response.status_code = status.HTTP_200_OK
    return payment_json(payment)


@router.get("/charges/{order_id}", summary="One order's payment", responses=problem_responses(404))
async def get_charge(order_id: OrderId, use: Handlers) -> dict[str, Any]:
    return payment_json(await use.get(order_id))


@router.post(
    "/charges/{order_id}/refund",
    summary="Give the money back (compensation; idempotent, also before the charge)",
)
async def refund(order_id: OrderId, use: Handlers) -> dict[str, Any]:
    return payment_json(await use.refund(order_id))


@router.get("/payments/summary", summary="Payments per status and cents charged (for audits)")
async def summary(use: Handlers) -> dict[str, int]:
    return await use.summary()


@router.get(
    "/audit",
    summary="Every payment's order, status and amount (for audits)",
    description=(
        "`payments` rows are `[order_id, status, amount_cents]`, by order id; status is one of "
        "CHARGED, DECLINED, REFUNDED or VOIDED (a refund that came before any charge, 0 cents). "
        + PAGES
    ),
    responses=problem_responses(422),
)
async def audit(use: Handlers, page: AuditPage) -> dict[str, Any]:
    return page_json("payments", await use.audit(page))


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "order_id": payment.order_id,
        "customer_id": payment.customer_id,
        "amount_cents": payment.amount_cents,
        "status": payment.status.value,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }
