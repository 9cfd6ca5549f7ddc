"""The order service's gRPC clients for inventory and payment.

Each maps the other service's answers onto the saga's ports exactly as the REST clients do: an
answer is a result, a known refusal is a typed refusal (a `refused` Reserve outcome, a
FAILED_PRECONDITION Charge), anything else is `DownstreamUnavailable` (from GrpcCaller, or here
for a refusal or answer this client does not understand).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import grpc
from google.protobuf.message import Message

from services._generated.orderflow.v1 import (
    common_pb2,
    inventory_pb2,
    inventory_pb2_grpc,
    payment_pb2,
    payment_pb2_grpc,
)
from services.kernel.config import Settings
from services.kernel.contracts import Line
from services.kernel.grpc.client import CallRefused, GrpcCaller, open_caller
from services.kernel.telemetry import Telemetry
from services.order.domain import OrderLine
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeResult,
    ChargeStatus,
    RefusalReason,
    ReservationRefused,
)


async def connect(
    settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> tuple[GrpcInventory, GrpcPayment]:
    timeout_s = settings.call_timeout_s
    return (
        GrpcInventory(open_caller(settings.address("inventory"), timeout_s, telemetry, resources)),
        GrpcPayment(open_caller(settings.address("payment"), timeout_s, telemetry, resources)),
    )


class GrpcInventory:
    def __init__(self, caller: GrpcCaller) -> None:
        self._caller = caller
        self._stub = inventory_pb2_grpc.InventoryServiceStub(caller.channel)

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        items = [common_pb2.LineItem(sku=line.sku, quantity=line.quantity) for line in lines]
        request = inventory_pb2.ReserveRequest(order_id=order_id, items=items)
        try:
            return await self._caller.call("reserve", self._stub.Reserve, request, _reservation)
        except CallRefused as refused:
            raise refused.unknown_outcome() from None

    async def release(self, order_id: str) -> None:
        request = inventory_pb2.ReleaseRequest(order_id=order_id)
        try:
            await self._caller.call("release", self._stub.Release, request, _done)
        except CallRefused as refused:
            raise refused.unknown_outcome() from None


class GrpcPayment:
    def __init__(self, caller: GrpcCaller) -> None:
        self._caller = caller
        self._stub = payment_pb2_grpc.PaymentServiceStub(caller.channel)

    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult:
        request = payment_pb2.ChargeRequest(
            order_id=order_id,
            customer_id=customer_id,
            amount_cents=amount_cents,
            payment_token=token,
        )
        try:
            return await self._caller.call("charge", self._stub.Charge, request, _charge_result)
        except CallRefused as refused:
            if refused.code is grpc.StatusCode.FAILED_PRECONDITION:
                raise ChargeRefused(refused.details) from None
            raise refused.unknown_outcome() from None

    async def refund(self, order_id: str) -> None:
        request = payment_pb2.RefundRequest(order_id=order_id)
        try:
            await self._caller.call("refund", self._stub.Refund, request, _done)
        except CallRefused as refused:
            raise refused.unknown_outcome() from None


def _done(answer: Message) -> None:
    """A compensation's answer: that it came is all it says."""


def _reservation(answer: inventory_pb2.ReserveResponse) -> tuple[OrderLine, ...]:
    """The priced lines, or the refusal raised; ValueError for an answer without an outcome."""
    if answer.HasField("reserved"):
        return tuple(
            OrderLine(item.sku, item.quantity, item.unit_price_cents)
            for item in answer.reserved.items
        )
    reason = _name(inventory_pb2.Refusal.Reason, answer.refused.reason)
    if answer.HasField("refused") and reason in RefusalReason.__members__:
        raise ReservationRefused(RefusalReason(reason), answer.refused.detail)
    raise ValueError("an answer without an outcome")


def _charge_result(answer: payment_pb2.ChargeResponse) -> ChargeResult:
    """ValueError for a status this client's protos do not name (or that no outcome is)."""
    status = _name(payment_pb2.Payment.Status, answer.payment.status)
    return ChargeResult(ChargeStatus(status))


def _name(enum: Any, number: int) -> str:
    """An enum value's name, or "" for a number this client's protos do not know (proto3 enums
    are open: a newer server may send one). Callers treat that as an unknown outcome."""
    try:
        return str(enum.Name(number))
    except ValueError:
        return ""
