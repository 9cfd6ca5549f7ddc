"""Payment over gRPC (orderflow.v1.PaymentService): charge once, refund.

A declined card is a payment with status DECLINED, not an error; a voided charge or reused
order id with other details is FAILED_PRECONDITION (the error map in services/kernel/grpc).
"""

from __future__ import annotations

from typing import Any

import grpc

from services._generated.orderflow.v1 import payment_pb2, payment_pb2_grpc
from services.kernel.grpc.server import GrpcServer, Service
from services.kernel.grpc.server import create_server as build_server
from services.kernel.telemetry import Telemetry
from services.payment.domain import ChargeRequest, Payment
from services.payment.handlers import PaymentHandlers

SERVICE_NAME = payment_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name
Context = grpc.aio.ServicerContext[Any, Any]


class PaymentServicer(payment_pb2_grpc.PaymentServiceServicer):
    def __init__(self, handlers: PaymentHandlers) -> None:
        self._use = handlers

    async def Charge(
        self, request: payment_pb2.ChargeRequest, context: Context
    ) -> payment_pb2.ChargeResponse:
        payment, created = await self._use.charge(
            ChargeRequest(
                request.order_id, request.customer_id, request.amount_cents, request.payment_token
            )
        )
        return payment_pb2.ChargeResponse(payment=payment_message(payment), replayed=not created)

    async def Refund(
        self, request: payment_pb2.RefundRequest, context: Context
    ) -> payment_pb2.Payment:
        return payment_message(await self._use.refund(request.order_id))


def payment_message(payment: Payment) -> payment_pb2.Payment:
    return payment_pb2.Payment(
        order_id=payment.order_id,
        customer_id=payment.customer_id or "",
        amount_cents=payment.amount_cents,
        status=payment_pb2.Payment.Status.Value(payment.status.value),
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    )


def create_server(
    handlers: PaymentHandlers,
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    telemetry: Telemetry | None = None,
) -> tuple[GrpcServer, int]:
    servicer = PaymentServicer(handlers)

    def register(server: grpc.aio.Server) -> None:
        payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, server)

    services = [Service(SERVICE_NAME, register)]
    return build_server(
        services, host, port, max_message_bytes=max_message_bytes, telemetry=telemetry
    )
