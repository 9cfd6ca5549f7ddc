"""The gRPC edge's error map: every error kind has its status code, details become metadata;
undecodable messages and their throttled log line; the v1 reflection descriptor."""

from __future__ import annotations

import contextvars
import logging

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
from services.kernel.grpc.decoding import Throttled, Undecodable, tolerant
from services.kernel.grpc.errors import code_of, status_for, trailing
from services.kernel.grpc.reflection import v1_file
from services.order.domain import IdempotencyMismatch
from services.order.downstream.grpc import _name
from services.order.updates import TooManyWatchers
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
        (TooManyWatchers("busy"), grpc.StatusCode.RESOURCE_EXHAUSTED),
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


def test_a_message_that_does_not_decode_becomes_undecodable() -> None:
    decode = tolerant(payment_pb2.RefundRequest.FromString)
    assert decode is not None and tolerant(None) is None
    assert decode(b"\x0a\x02o1") == payment_pb2.RefundRequest(order_id="o1")
    for garbage in (b"\x0a\x05o1", b"\x0a\x02\xff\xfe", b"\xff"):
        assert isinstance(decode(garbage), Undecodable)


def test_the_log_line_is_throttled_and_counts_what_it_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    throttled = Throttled(10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for at in (0.0, 1.0, 9.9, 10.0, 10.5, 25.0):
            now[0] = at
            throttled.warn("bad")
    assert [r.getMessage() for r in caplog.records] == [
        "bad",
        "bad (2 more since the last such line)",
        "bad (1 more since the last such line)",
    ]


def test_the_v1_reflection_descriptor_has_the_published_fields() -> None:
    """grpc/reflection/v1/reflection.proto, as published: the same numbers as v1alpha."""
    file = v1_file()
    fields = {m.name: {f.name: f.number for f in m.field} for m in file.message_type}
    assert (file.package, file.name) == (
        "grpc.reflection.v1",
        "grpc/reflection/v1/reflection.proto",
    )
    assert fields["ServerReflectionRequest"] == {
        "host": 1,
        "file_by_filename": 3,
        "file_containing_symbol": 4,
        "file_containing_extension": 5,
        "all_extension_numbers_of_type": 6,
        "list_services": 7,
    }
    assert fields["ServerReflectionResponse"] == {
        "valid_host": 1,
        "original_request": 2,
        "file_descriptor_response": 4,
        "all_extension_numbers_response": 5,
        "list_services_response": 6,
        "error_response": 7,
    }
    [service] = file.service
    [method] = service.method
    assert (service.name, method.name) == ("ServerReflection", "ServerReflectionInfo")
    assert (method.input_type, method.output_type) == (
        ".grpc.reflection.v1.ServerReflectionRequest",
        ".grpc.reflection.v1.ServerReflectionResponse",
    )
    assert method.client_streaming and method.server_streaming
    named = [f.type_name for m in file.message_type for f in m.field if f.type_name]
    assert named and all(n.startswith(".grpc.reflection.v1.") for n in named)
