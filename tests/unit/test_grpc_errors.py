"""The gRPC edge's error map: every error kind has its status code, details become metadata."""

from __future__ import annotations

import contextvars

import grpc
import pytest

from services._generated.orderflow.v1 import payment_pb2
from services.inventory.domain import OutOfStock, ReservationReleased
from services.kernel import correlation
from services.kernel.errors import (
    Conflict,
    DomainError,
    DownstreamUnavailable,
    InvalidRequest,
    NotFound,
    Rejected,
)
from services.kernel.grpc.errors import code_of, status_for, trailing
from services.order.domain import IdempotencyMismatch
from services.order.downstream.grpc import _name
from services.payment.domain import ChargeVoided


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidRequest("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFound("gone"), grpc.StatusCode.NOT_FOUND),
        (Conflict("again"), grpc.StatusCode.FAILED_PRECONDITION),
        (IdempotencyMismatch("other body"), grpc.StatusCode.FAILED_PRECONDITION),
        (ChargeVoided("voided"), grpc.StatusCode.FAILED_PRECONDITION),
        (ReservationReleased("released"), grpc.StatusCode.FAILED_PRECONDITION),
        (Rejected("no"), grpc.StatusCode.FAILED_PRECONDITION),
        (OutOfStock("none left"), grpc.StatusCode.FAILED_PRECONDITION),
        (DomainError("some rule"), grpc.StatusCode.FAILED_PRECONDITION),
        (DownstreamUnavailable("payment", "charge", "refused"), grpc.StatusCode.UNAVAILABLE),
        (TimeoutError(), grpc.StatusCode.DEADLINE_EXCEEDED),
        (RuntimeError("bug"), grpc.StatusCode.INTERNAL),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.name,
)
def test_every_error_kind_has_its_status(error: Exception, status: grpc.StatusCode) -> None:
    assert status_for(error) is status


def test_codes_are_the_domain_codes() -> None:
    assert code_of(IdempotencyMismatch("x")) == "IDEMPOTENCY_MISMATCH"
    assert code_of(DownstreamUnavailable("inventory", "reserve", "x")) == "DOWNSTREAM_UNAVAILABLE"
    assert code_of(RuntimeError()) == "INTERNAL_ERROR"


def test_scalar_ascii_details_become_metadata_and_the_rest_is_left_out() -> None:
    contextvars.copy_context().run(_check_metadata)  # keeps the correlation id in this test


def _check_metadata() -> None:
    correlation.set_current("corr-7")
    metadata = trailing(
        "UNKNOWN_SKU",
        {
            "order_id": "o-1",
            "field": "items[0].quantity",
            "limit_bytes": 10,
            "skus": ["A", "B"],
            "sku": "caf\u00e9",
            "flag": True,
        },
    )
    assert metadata == (
        ("orderflow-code", "UNKNOWN_SKU"),
        ("orderflow-order-id", "o-1"),
        ("orderflow-field", "items[0].quantity"),
        ("orderflow-limit-bytes", "10"),
        ("x-correlation-id", "corr-7"),
    )


def test_an_enum_number_this_client_does_not_know_reads_as_no_name() -> None:
    """proto3 enums are open: a newer server may send a number this client's protos lack; the
    downstream client must treat it as an unknown outcome, not crash the saga."""
    assert _name(payment_pb2.Payment.Status, payment_pb2.Payment.CHARGED) == "CHARGED"
    assert _name(payment_pb2.Payment.Status, 99) == ""
