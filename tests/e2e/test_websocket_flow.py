"""The order flow over JSON-RPC 2.0 on WebSockets, through the four real service processes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from harness.stack.supervisor import Stack
from tests.e2e.logs import assert_every_line_names_the_order
from tests.e2e.metrics import downstream_calls
from tests.e2e.rest_client import available, charge, payment_summary
from tests.e2e.ws_client import place_params, rpc_socket

pytestmark = pytest.mark.e2e

CONFIRMED_PATH = ["PENDING", "RESERVED", "PAID", "CONFIRMED"]
CANCELLED_PATH = ["PENDING", "RESERVED", "CANCELLED"]
REJECTED_PATH = ["PENDING", "REJECTED"]


def follows(seen: list[str], path: list[str]) -> bool:
    """Every status of `path`, in order: the socket follows the order from before its saga's
    first step (place_order's on_accepted), so it misses none."""
    return seen == path


def snapshot(http: httpx.Client, stack: Stack) -> tuple[Any, dict[str, int]]:
    return http.get(f"{stack.url('inventory')}/stock").json(), payment_summary(http, stack)


def test_a_confirmed_order_is_pushed_step_by_step_then_answered(
    stack: Stack, http: httpx.Client
) -> None:
    before = available(http, stack, "KB-MECH")
    with rpc_socket(stack) as rpc:
        placed = rpc.call("place_order", place_params({"KB-MECH": 2, "CABLE-USBC": 1}))
    order = placed.result
    assert (order["status"], order["reason"], order["total_cents"]) == (
        "CONFIRMED",
        None,
        2 * 8999 + 999,
    )
    assert follows(placed.statuses(), CONFIRMED_PATH), placed.statuses()
    assert {n["params"]["id"] for n in placed.notifications} == {order["id"]}
    assert available(http, stack, "KB-MECH") == before - 2
    assert charge(http, stack, order["id"]) == "CHARGED"


def test_a_declined_payment_puts_the_stock_back(stack: Stack, http: httpx.Client) -> None:
    before = available(http, stack, "HEADSET")
    with rpc_socket(stack) as rpc:
        placed = rpc.call("place_order", place_params({"HEADSET": 4}, token="tok_chargeDeclined"))
    order = placed.result
    assert (order["status"], order["reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert follows(placed.statuses(), CANCELLED_PATH), placed.statuses()
    assert available(http, stack, "HEADSET") == before
    assert charge(http, stack, order["id"]) == "DECLINED"
    reservation = http.get(f"{stack.url('inventory')}/reservations/{order['id']}").json()
    assert reservation["status"] == "RELEASED"


def test_out_of_stock_charges_nothing(stack: Stack, http: httpx.Client) -> None:
    before = available(http, stack, "KB-MECH")
    with rpc_socket(stack) as rpc:
        placed = rpc.call("place_order", place_params({"KB-MECH": 1, "MUG-RETIRED": 1}))
    order = placed.result
    assert (order["status"], order["reason"]) == ("REJECTED", "OUT_OF_STOCK")
    assert follows(placed.statuses(), REJECTED_PATH), placed.statuses()
    assert charge(http, stack, order["id"]) is None
    assert available(http, stack, "KB-MECH") == before  # all or nothing


def test_an_idempotent_retry_charges_once_and_another_body_is_refused(
    stack: Stack, http: httpx.Client
) -> None:
    key = f"ws-retry-{uuid.uuid4().hex}"
    params = place_params({"MOUSE-WL": 1}, idempotency_key=key)
    charged_before = payment_summary(http, stack)["CHARGED"]
    with rpc_socket(stack) as rpc:
        orders = [rpc.call("place_order", params).result for _ in range(3)]
        payments = payment_summary(http, stack)
        other = rpc.call("place_order", {**params, "items": [{"sku": "MOUSE-WL", "quantity": 5}]})
    assert len({o["id"] for o in orders}) == 1
    assert payments["CHARGED"] == charged_before + 1
    assert (other.error["code"], other.error["data"]["code"]) == (-32002, "IDEMPOTENCY_MISMATCH")
    assert other.error["data"]["order_id"] == orders[0]["id"]
    assert payment_summary(http, stack) == payments


def test_get_order_reads_what_was_placed_and_refuses_an_unknown_id(stack: Stack) -> None:
    with rpc_socket(stack) as rpc:
        placed = rpc.call("place_order", place_params({"MON-27": 1})).result
        assert rpc.call("get_order", {"id": placed["id"]}).result == placed
        missing = rpc.call("get_order", {"id": "no-such-order"}).error
    assert (missing["code"], missing["data"]["code"]) == (-32001, "NOT_FOUND")


def test_an_order_placed_over_websocket_calls_downstream_over_websocket(
    stack: Stack, http: httpx.Client
) -> None:
    before = downstream_calls(stack)
    with rpc_socket(stack) as rpc:
        rpc.call("place_order", place_params({"CABLE-USBC": 1})).result  # noqa: B018 (asserts)
    after = downstream_calls(stack)
    moved = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key)}
    assert moved == {("inventory", "ws.reserve", "ok"): 1, ("payment", "ws.charge", "ok"): 1}


ORDER = place_params({"KB-MECH": 1})
BAD_MESSAGES: list[tuple[str, str, int, str]] = [
    ("malformed JSON", '{"jsonrpc": "2.0", "id": 1, "method": ', -32700, "MALFORMED_JSON"),
    ("unknown method", '{"jsonrpc": "2.0", "id": 1, "method": "cancel_order"}', -32601, ""),
    (
        "quantity as a string",
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "place_order",
                "params": {**ORDER, "items": [{"sku": "KB-MECH", "quantity": "1"}]},
            }
        ),
        -32602,
        "INVALID_REQUEST",
    ),
    (
        "quantity zero",
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "place_order",
                "params": {**ORDER, "items": [{"sku": "KB-MECH", "quantity": 0}]},
            }
        ),
        -32602,
        "INVALID_REQUEST",
    ),
    (
        "unknown token",
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "place_order",
                "params": {**ORDER, "payment_token": "tok_amex"},
            }
        ),
        -32602,
        "INVALID_REQUEST",
    ),
    (
        "params by position",
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "place_order", "params": [ORDER]}),
        -32602,
        "INVALID_REQUEST",
    ),
    (
        "unknown SKU",
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "place_order",
                "params": {**ORDER, "items": [{"sku": "NO-SUCH-SKU", "quantity": 1}]},
            }
        ),
        -32602,
        "UNKNOWN_SKU",
    ),
    ("an empty batch", "[]", -32600, "EMPTY_BATCH"),
    (
        "oversized",
        json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "get_order", "params": {"id": "x" * 70_000}}
        ),
        -32600,
        "MESSAGE_TOO_LARGE",
    ),
]


@pytest.mark.parametrize(
    ("raw", "code", "data_code"),
    [case[1:] for case in BAD_MESSAGES],
    ids=[case[0] for case in BAD_MESSAGES],
)
def test_bad_input_gets_an_error_moves_nothing_and_the_socket_serves_on(
    stack: Stack, http: httpx.Client, raw: str, code: int, data_code: str
) -> None:
    before = snapshot(http, stack)
    with rpc_socket(stack) as rpc, rpc_socket(stack) as other:
        error = rpc.send_raw(raw).error
        assert error["code"] == code
        assert error["data"]["code"] == (data_code or error["data"]["code"])
        if data_code == "UNKNOWN_SKU":
            order = error["data"]["order"]
            assert (order["status"], order["reason"]) == ("REJECTED", "UNKNOWN_SKU")
        assert rpc.call("get_order", {"id": "after"}).error["code"] == -32001
        assert other.call("get_order", {"id": "other"}).error["code"] == -32001
    assert snapshot(http, stack) == before


def flood_message(index: int) -> tuple[str, int]:
    """Four kinds of bad message in turn, each with the error code it must get."""
    kind = index % 4
    if kind == 0:
        return '{"jsonrpc": "2.0", "id": ' + str(index), -32700
    if kind == 1:
        return json.dumps({"jsonrpc": "2.0", "id": index, "method": "nope"}), -32601
    params: dict[str, Any] = {**ORDER, "items": [{"sku": "KB-MECH", "quantity": True}]}
    if kind == 3:
        params = {"id": ["not", "a", "string"]}
    method = "place_order" if kind == 2 else "get_order"
    return json.dumps({"jsonrpc": "2.0", "id": index, "method": method, "params": params}), -32602


def test_a_flood_of_500_bad_messages_is_answered_in_full_while_others_are_served(
    stack: Stack, http: httpx.Client
) -> None:
    before = snapshot(http, stack)
    flood = [flood_message(index) for index in range(500)]
    with rpc_socket(stack) as rpc, rpc_socket(stack) as other:
        for text, _ in flood:
            rpc.socket.send(text)
        assert other.call("get_order", {"id": "meanwhile"}).error["code"] == -32001
        answers = rpc.responses(500)
        assert rpc.call("get_order", {"id": "after"}).error["code"] == -32001
    codes = sorted(answer["error"]["code"] for answer in answers)
    assert codes == sorted(code for _, code in flood)
    answered_ids = {answer["id"] for answer in answers if answer["id"] is not None}
    assert answered_ids == {index for index in range(500) if index % 4}
    assert snapshot(http, stack) == before


def test_the_callers_correlation_id_travels_to_every_service(stack: Stack) -> None:
    correlation_id = f"ws-corr-{uuid.uuid4().hex}"
    params = {**place_params({"KB-MECH": 1}), "_meta": {"correlation_id": correlation_id}}
    with rpc_socket(stack) as rpc:
        order_id = rpc.call("place_order", params).result["id"]
    services = ("order", "inventory", "payment", "notification")
    assert_every_line_names_the_order(stack, correlation_id, order_id, services)
