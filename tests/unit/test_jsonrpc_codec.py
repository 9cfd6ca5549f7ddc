"""JSON-RPC messages, params and the error map: what is accepted, what is refused, and how."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable, InvalidRequest, NotFound
from services.kernel.jsonrpc import errors
from services.kernel.jsonrpc.errors import RpcError, error_for
from services.kernel.jsonrpc.messages import (
    BadMessage,
    Batch,
    Limits,
    Request,
    parse,
    parse_answer,
)
from services.kernel.jsonrpc.params import Params
from services.order.domain import IdempotencyMismatch
from services.order.updates import TooManyWatchers

LIMIT = 1024
BATCH = 8


def parse_request(raw: str | bytes) -> Request:
    parsed = parse(raw, Limits(LIMIT, BATCH))
    assert isinstance(parsed, Request)
    return parsed


def parse_batch(raw: str | bytes) -> tuple[Request | BadMessage, ...]:
    parsed = parse(raw, Limits(LIMIT, BATCH))
    assert isinstance(parsed, Batch)
    return parsed.elements


def refused(raw: str | bytes) -> BadMessage:
    with pytest.raises(BadMessage) as caught:
        parse(raw, Limits(LIMIT, BATCH))
    return caught.value


def test_a_request_and_a_notification() -> None:
    call = parse_request('{"jsonrpc": "2.0", "id": 7, "method": "m", "params": {"a": 1}}')
    assert (call.method, call.params, call.id, call.is_notification) == ("m", {"a": 1}, 7, False)
    note = parse_request(b'{"jsonrpc": "2.0", "method": "m"}')
    assert (note.params, note.id, note.is_notification) == ({}, None, True)
    null_id = parse_request('{"jsonrpc": "2.0", "id": null, "method": "m"}')
    assert (null_id.id, null_id.is_notification) == (None, False)


@pytest.mark.parametrize(
    ("raw", "code", "data_code", "request_id"),
    [
        ("{not json", -32700, "MALFORMED_JSON", None),
        ('{"a": 1', -32700, "MALFORMED_JSON", None),
        ("[]", -32600, "EMPTY_BATCH", None),
        ("[" + ", ".join(["1"] * (BATCH + 1)) + "]", -32600, "BATCH_TOO_LARGE", None),
        ('"just a string"', -32600, "INVALID_MESSAGE", None),
        ('{"jsonrpc": "2.0", "id": 1.5, "method": "m"}', -32600, "INVALID_MESSAGE", None),
        ('{"jsonrpc": "2.0", "id": true, "method": "m"}', -32600, "INVALID_MESSAGE", None),
        ('{"jsonrpc": "2.0", "id": [1], "method": "m"}', -32600, "INVALID_MESSAGE", None),
        ('{"jsonrpc": "1.0", "id": 1, "method": "m"}', -32600, "INVALID_MESSAGE", 1),
        ('{"id": "a", "method": "m"}', -32600, "INVALID_MESSAGE", "a"),
        ('{"jsonrpc": "2.0", "id": 2, "method": 5}', -32600, "INVALID_MESSAGE", 2),
        ('{"jsonrpc": "2.0", "id": 2, "method": ""}', -32600, "INVALID_MESSAGE", 2),
        ('{"jsonrpc": "2.0", "id": 3, "method": "m", "extra": 1}', -32600, "INVALID_MESSAGE", 3),
    ],
)
def test_what_is_not_a_request_is_answered_with_an_error(
    raw: str, code: int, data_code: str, request_id: object
) -> None:
    bad = refused(raw)
    assert (bad.error.code, bad.error.reason, bad.request_id) == (code, data_code, request_id)


def test_nesting_deep_enough_to_exhaust_the_stack_is_malformed_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(BadMessage) as caught:
        parse(deep, Limits(len(deep), BATCH))
    assert caught.value.error.reason == "MALFORMED_JSON"


def test_a_message_over_the_limit_is_refused_before_parsing() -> None:
    exact = json.dumps({"jsonrpc": "2.0", "method": "m", "params": {"p": ""}})
    fits = exact.replace('""', '"' + "x" * (LIMIT - len(exact)) + '"')
    assert len(fits.encode()) == LIMIT
    parse_request(fits)
    bad = refused(fits.replace('"x', '"xx'))
    assert bad.error.to_json()["data"] == {"code": "MESSAGE_TOO_LARGE", "limit_bytes": LIMIT}
    assert refused("é" * (LIMIT // 2 + 1)).error.reason == "MESSAGE_TOO_LARGE"  # bytes, not chars


def test_a_batch_keeps_its_elements_in_order_with_what_is_wrong_in_place() -> None:
    """The spec's own batch (§7, "rpc call Batch"), element by element."""
    elements = parse_batch(
        """[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"""
    )
    read = [
        (e.method, e.id, e.is_notification) if isinstance(e, Request) else e.error.code
        for e in elements
    ]
    assert read == [
        ("sum", "1", False),
        ("notify_hello", None, True),
        ("subtract", "2", False),
        -32600,
        ("foo.get", "5", False),
        ("get_data", "9", False),
    ]


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        ("[1]", [None]),
        ("[1, 2, 3]", [None, None, None]),
        ('[[{"jsonrpc": "2.0", "id": 1, "method": "m"}]]', [None]),  # no batch in a batch
        ('[{"jsonrpc": "1.0", "id": 4, "method": "m"}, {"id": "x"}]', [4, "x"]),
    ],
)
def test_elements_that_are_not_requests_are_errors_of_their_own(
    raw: str, ids: list[object]
) -> None:
    elements = parse_batch(raw)
    assert all(isinstance(e, BadMessage) and e.error.code == -32600 for e in elements)
    assert [e.request_id for e in elements if isinstance(e, BadMessage)] == ids


def test_a_batch_that_is_not_json_is_one_parse_error() -> None:
    bad = refused(
        '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
        '{"jsonrpc": "2.0", "method"]'
    )
    assert (bad.error.code, bad.request_id) == (-32700, None)


def test_the_batch_limit_counts_requests() -> None:
    note = '{"jsonrpc": "2.0", "method": "m"}'
    assert len(parse_batch("[" + ", ".join([note] * BATCH) + "]")) == BATCH
    too_many = refused("[" + ", ".join([note] * (BATCH + 1)) + "]")
    assert too_many.error.data == {"code": "BATCH_TOO_LARGE", "limit_requests": BATCH}


def test_a_refused_message_carries_its_id_when_it_can_be_read() -> None:
    padded: dict[str, object] = {"jsonrpc": "2.0", "id": "big", "method": "m"}
    padded["params"] = {"p": "x" * LIMIT}
    oversized = refused(json.dumps(padded))
    assert (oversized.error.reason, oversized.request_id) == ("MESSAGE_TOO_LARGE", "big")
    padded["params"] = {"p": "x" * 2 * LIMIT}  # beyond what the socket lets through: not read
    assert refused(json.dumps(padded)).request_id is None
    padded["params"], padded["id"] = {"p": "x" * LIMIT}, 1.5  # not a valid id: null
    assert refused(json.dumps(padded)).request_id is None
    broken_utf8 = b'{"jsonrpc": "2.0", "id": 7, "method": "m", "params": {"s": "\xff"}}'
    unreadable = refused(broken_utf8)
    assert (unreadable.error.code, unreadable.request_id) == (-32700, 7)
    assert refused('{"jsonrpc": "2.0", "id": 8, "method": "m"').request_id is None


def place_params(**overrides: Any) -> dict[str, Any]:
    return {"customer_id": "c1", "items": [{"sku": "A", "quantity": 2}], **overrides}


def test_params_read_strictly() -> None:
    params, meta = Params.of(place_params(_meta={"correlation_id": "corr"}))
    assert meta.correlation_id == "corr"
    params.allow("customer_id", "items", "idempotency_key")
    assert params.text("customer_id") == "c1"
    assert params.lines("items") == (Line("A", 2),)
    assert params.optional_text("idempotency_key") is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([1, 2], "params"),
        ("params", "params"),
        (place_params(customer_id=5), "customer_id"),
        (place_params(items={"sku": "A"}), "items"),
        (place_params(items=["A"]), "items[0]"),
        (place_params(items=[{"sku": "A"}]), "items[0].quantity"),
        (place_params(items=[{"sku": "A", "quantity": "2"}]), "items[0].quantity"),
        (place_params(items=[{"sku": "A", "quantity": 2.0}]), "items[0].quantity"),
        (place_params(items=[{"sku": "A", "quantity": False}]), "items[0].quantity"),
        (place_params(items=[{"sku": 1, "quantity": 1}]), "items[0].sku"),
        (place_params(items=[{"sku": "A", "quantity": 1, "price": 1}]), "items[0]"),
        (place_params(idempotency_key=["k"]), "idempotency_key"),
        (place_params(surprise=1), "surprise"),
        ({"items": []}, "customer_id"),
        (place_params(_meta="corr"), "_meta"),
        (place_params(_meta={"trace": "x"}), "_meta"),
    ],
)
def test_params_of_the_wrong_shape_name_the_field(raw: object, field: str) -> None:
    with pytest.raises(RpcError) as caught:
        params, _ = Params.of(raw)
        params.allow("customer_id", "items", "idempotency_key")
        params.text("customer_id")
        params.lines("items")
        params.optional_text("idempotency_key")
    assert (caught.value.code, caught.value.data) == (
        -32602,
        {"code": "INVALID_REQUEST", "field": field},
    )


@pytest.mark.parametrize(
    ("raised", "code", "data"),
    [
        (InvalidRequest("bad", field="x"), -32602, {"code": "INVALID_REQUEST", "field": "x"}),
        (NotFound("gone", order_id="o"), -32001, {"code": "NOT_FOUND", "order_id": "o"}),
        (IdempotencyMismatch("reused"), -32002, {"code": "IDEMPOTENCY_MISMATCH"}),
        (
            TooManyWatchers("busy", limit=4),
            -32005,
            {"code": "TOO_MANY_WATCHERS", "limit": 4, "retry_after_s": 1},
        ),
        (
            DownstreamUnavailable("inventory", "reserve", "down"),
            -32004,
            {"code": "DOWNSTREAM_UNAVAILABLE", "service": "inventory"},
        ),
        (KeyError("bug"), -32603, {"code": "INTERNAL_ERROR"}),
    ],
)
def test_the_error_map(raised: Exception, code: int, data: dict[str, Any]) -> None:
    mapped = error_for(raised)
    assert (mapped.code, mapped.data) == (code, data)
    if code == errors.INTERNAL_ERROR:
        assert "bug" not in mapped.message  # internals stay in the log


def test_domain_refusals_have_their_own_codes() -> None:
    from services.inventory.domain import OutOfStock, UnknownSku

    assert error_for(OutOfStock("short")).code == errors.REJECTED
    assert error_for(UnknownSku("who?")).code == errors.INVALID_PARAMS  # REST: 422


def test_answers_as_a_client_reads_them() -> None:
    ok = parse_answer('{"jsonrpc": "2.0", "id": 1, "result": {"a": 1}}')
    assert ok is not None and (ok.id, ok.result, ok.error) == (1, {"a": 1}, None)
    error = {"code": -32001, "message": "m", "data": {"code": "X"}}
    failed = parse_answer(json.dumps({"jsonrpc": "2.0", "id": 2, "error": error}))
    assert failed is not None and failed.error is not None
    assert (failed.error.code, failed.error.reason) == (-32001, "X")
    assert parse_answer('{"jsonrpc": "2.0", "method": "order.updated", "params": {}}') is None
    for garbage in (
        "nope",
        "[]",
        '{"jsonrpc": "2.0", "id": 1}',
        '{"jsonrpc": "2.0", "id": 1, "result": 1, "error": {}}',
        '{"jsonrpc": "2.0", "id": 1, "error": {"code": "x"}}',
        '{"id": 1, "result": 1}',
    ):
        with pytest.raises(ValueError):
            parse_answer(garbage)
