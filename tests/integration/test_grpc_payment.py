"""The payment gRPC adapter in-process over real HTTP/2, on a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeAlias

import grpc
import pytest

from services._generated.orderflow.v1 import payment_pb2, payment_pb2_grpc
from services.kernel.contracts import TOKEN_APPROVES, TOKEN_DECLINES
from services.kernel.telemetry import Telemetry
from services.payment.api.grpc import create_server
from services.payment.main import create_handlers
from services.payment.store import PaymentStore

# Type-checking only: the stub over a grpc.aio channel.
Stub: TypeAlias = "payment_pb2_grpc.PaymentServiceAsyncStub"
Status = payment_pb2.Payment.Status


@pytest.fixture
def store(tmp_path: Path) -> PaymentStore:
    return PaymentStore.open(tmp_path / "payment.db")


@pytest.fixture
async def stub(store: PaymentStore) -> AsyncIterator[Stub]:
    handlers = create_handlers(store, Telemetry("payment"))
    server, port = create_server(handlers, "127.0.0.1", 0, max_message_bytes=1024)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield payment_pb2_grpc.PaymentServiceStub(channel)
    finally:
        await server.stop(None)
        store.close()


def charge(
    order_id: str, token: str = TOKEN_APPROVES, amount: int = 1999
) -> payment_pb2.ChargeRequest:
    return payment_pb2.ChargeRequest(
        order_id=order_id, customer_id="c1", amount_cents=amount, payment_token=token
    )


async def test_charge_once_then_refund(stub: Stub, store: PaymentStore) -> None:
    first = await stub.Charge(charge("o1"))
    assert (Status.Name(first.payment.status), first.payment.amount_cents) == ("CHARGED", 1999)
    assert first.payment.customer_id == "c1" and not first.replayed
    again = await stub.Charge(charge("o1"))
    assert again.replayed and again.payment == first.payment
    refunded = await stub.Refund(payment_pb2.RefundRequest(order_id="o1"))
    assert Status.Name(refunded.status) == "REFUNDED"
    assert store.summary()["CHARGED"] == 0 and store.summary()["REFUNDED"] == 1


async def test_a_decline_is_an_answer(stub: Stub) -> None:
    declined = await stub.Charge(charge("o2", token=TOKEN_DECLINES))
    assert Status.Name(declined.payment.status) == "DECLINED"


async def test_a_voided_charge_is_failed_precondition(stub: Stub, store: PaymentStore) -> None:
    voided = await stub.Refund(payment_pb2.RefundRequest(order_id="o3"))
    assert (Status.Name(voided.status), voided.customer_id) == ("VOIDED", "")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Charge(charge("o3"))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    metadata = dict(refused.value.trailing_metadata() or ())
    assert (metadata["orderflow-code"], metadata["orderflow-order-id"]) == ("CHARGE_VOIDED", "o3")
    assert store.summary()["CHARGED"] == 0


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (charge("o4", amount=0), "amount_cents"),
        (charge("o4", token="tok_amex"), "payment_token"),
        (charge(""), "order_id"),
    ],
    ids=["amount 0", "unknown token", "no order id"],
)
async def test_bad_input_is_invalid_argument_and_charges_nothing(
    stub: Stub, store: PaymentStore, request_: payment_pb2.ChargeRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Charge(request_)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert dict(refused.value.trailing_metadata() or ())["orderflow-field"] == field
    assert store.summary()["CHARGED"] == 0
