"""Payment over GraphQL: charge and refund as mutations with result unions, and one payment.

Parse, call one handler, map the result. The error map: a Conflict (CHARGE_VOIDED,
IDEMPOTENCY_MISMATCH) becomes the ChargeConflict member; InvalidRequest → InvalidInput comes from
the kernel. A decline is a recorded result (a Payment with status DECLINED), not an error.
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from fastapi import APIRouter

from services.kernel.errors import Conflict, NotFound
from services.kernel.graphql.context import GraphQLContext, context_getter
from services.kernel.graphql.errors import InvalidInput, Problem
from services.kernel.graphql.router import MAX_MESSAGE_BYTES, create_graphql_router
from services.kernel.graphql.schema import Schema, build_schema
from services.payment import domain
from services.payment.handlers import PaymentHandlers

Info = strawberry.Info[GraphQLContext[PaymentHandlers], None]


@strawberry.type(
    description="One order's payment. A VOIDED marker (a refund that came before its charge) "
    "has no customer and a zero amount: nothing was charged."
)
class Payment:
    order_id: str
    customer_id: str | None
    amount_cents: int
    status: domain.PaymentStatus
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, payment: domain.Payment) -> Payment:
        return cls(
            order_id=payment.order_id,
            customer_id=payment.customer_id,
            amount_cents=payment.amount_cents,
            status=payment.status,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )


@strawberry.input(description="Charge an order once; idempotent per orderId.")
class ChargeInput:
    order_id: str
    customer_id: str
    amount_cents: int
    payment_token: str

    def to_request(self) -> domain.ChargeRequest:
        return domain.ChargeRequest(
            self.order_id, self.customer_id, self.amount_cents, self.payment_token
        )


@strawberry.type(
    description="The charge was voided by an earlier refund (CHARGE_VOIDED), or the order was "
    "already charged with other details (IDEMPOTENCY_MISMATCH). Nothing was charged."
)
class ChargeConflict(Problem):
    order_id: str


ChargeResult = Annotated[Payment | ChargeConflict | InvalidInput, strawberry.union("ChargeResult")]
RefundResult = Annotated[Payment | InvalidInput, strawberry.union("RefundResult")]


class ConflictHandler(strawberry.ExceptionHandler[Conflict, ChargeConflict]):
    def handle(self, exception: Conflict, **_: Any) -> ChargeConflict:
        order_id = str(exception.details.get("order_id", ""))
        return ChargeConflict(code=exception.code, message=exception.message, order_id=order_id)


async def resolve_payment(info: Info, order_id: str) -> Payment | None:
    try:
        return Payment.of(await info.context.handlers.get(order_id))
    except NotFound:
        return None


async def resolve_charge(info: Info, input: ChargeInput) -> ChargeResult:
    created, _ = await info.context.handlers.charge(input.to_request())
    return Payment.of(created)


async def resolve_refund(info: Info, order_id: str) -> RefundResult:
    return Payment.of(await info.context.handlers.refund(order_id))


@strawberry.type
class Query:
    payment: Payment | None = strawberry.field(
        resolver=resolve_payment, description="One order's payment; null when the order has none."
    )


@strawberry.type
class Mutation:
    charge: ChargeResult = strawberry.mutation(
        resolver=resolve_charge,
        description="Charge an order; a decline is recorded (status DECLINED).",
    )
    refund: RefundResult = strawberry.mutation(
        resolver=resolve_refund,
        description="Give the money back (compensation; idempotent, also before the charge).",
    )


def create_schema() -> Schema:
    return build_schema(query=Query, mutation=Mutation, exception_handlers=[ConflictHandler()])


def create_router(max_message_bytes: int = MAX_MESSAGE_BYTES) -> APIRouter:
    return create_graphql_router(
        create_schema(),
        context_getter(PaymentHandlers, GraphQLContext[PaymentHandlers]),
        max_message_bytes,
    )
