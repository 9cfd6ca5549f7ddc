"""The order flow over REST, through the four real service processes."""

from __future__ import annotations

import asyncio
import http.client
import time
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from harness.stack.supervisor import Stack
from tests.e2e.logs import assert_every_line_names_the_order
from tests.e2e.rest_client import available, charge, order_body, payment_summary

pytestmark = pytest.mark.e2e


def place(http: httpx.Client, stack: Stack, body: object, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return http.post(f"{stack.url('order')}/orders", json=body, headers=headers)


def test_confirmed_order_takes_stock_charges_and_notifies(stack: Stack, http: httpx.Client) -> None:
    before = available(http, stack, "KB-MECH")
    answer = place(http, stack, order_body({"KB-MECH": 2, "CABLE-USBC": 1}))
    assert answer.status_code == 201
    order = answer.json()
    assert (order["status"], order["reason"], order["total_cents"]) == (
        "CONFIRMED",
        None,
        2 * 8999 + 999,
    )
    assert available(http, stack, "KB-MECH") == before - 2
    assert charge(http, stack, order["id"]) == "CHARGED"
    notifications = f"{stack.url('notification')}/notifications"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sent = http.get(notifications, params={"order_id": order["id"]}).json()["notifications"]
        if sent:
            break
        time.sleep(0.05)
    assert [n["kind"] for n in sent] == ["order.confirmed"]


def test_declined_payment_puts_the_stock_back(stack: Stack, http: httpx.Client) -> None:
    before = available(http, stack, "HEADSET")
    order = place(http, stack, order_body({"HEADSET": 4}, token="tok_chargeDeclined")).json()
    assert (order["status"], order["reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert available(http, stack, "HEADSET") == before
    assert charge(http, stack, order["id"]) == "DECLINED"
    stock = http.get(f"{stack.url('inventory')}/reservations/{order['id']}").json()
    assert stock["status"] == "RELEASED"


def test_out_of_stock_charges_nothing(stack: Stack, http: httpx.Client) -> None:
    before = available(http, stack, "KB-MECH")
    order = place(http, stack, order_body({"KB-MECH": 1, "MUG-RETIRED": 1})).json()
    assert (order["status"], order["reason"]) == ("REJECTED", "OUT_OF_STOCK")
    assert charge(http, stack, order["id"]) is None
    assert available(http, stack, "KB-MECH") == before  # all or nothing


def test_idempotent_retry_charges_once(stack: Stack, http: httpx.Client) -> None:
    body = order_body({"MOUSE-WL": 1})
    charged_before = payment_summary(http, stack)["CHARGED"]
    answers = [place(http, stack, body, key="retry-key-1") for _ in range(3)]
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers] == [None, "true", "true"]
    assert payment_summary(http, stack)["CHARGED"] == charged_before + 1


def test_reads_and_lists(stack: Stack, http: httpx.Client) -> None:
    body = order_body({"MON-27": 1})
    placed = place(http, stack, body).json()
    assert http.get(f"{stack.url('order')}/orders/{placed['id']}").json() == placed
    listed = http.get(f"{stack.url('order')}/orders", params={"customer_id": body["customer_id"]})
    assert listed.json() == {"orders": [placed]}


BAD_BODIES: list[tuple[bytes, dict[str, str], int, str]] = [
    (b"{not json", {}, 400, "MALFORMED_JSON"),
    (b'{"customer_id": "c", "payment_token": "tok_visa"}', {}, 422, "INVALID_REQUEST"),
    (
        b'{"customer_id": "c", "items": [{"sku": "KB-MECH", "quantity": 0}],'
        b' "payment_token": "tok_visa"}',
        {},
        422,
        "INVALID_REQUEST",
    ),
    (
        b'{"customer_id": "c", "items": [{"sku": "KB-MECH", "quantity": -1}],'
        b' "payment_token": "tok_visa"}',
        {},
        422,
        "INVALID_REQUEST",
    ),
    (
        b'{"customer_id": "c", "items": [{"sku": "KB-MECH", "quantity": 1}],'
        b' "payment_token": "tok_unknown"}',
        {},
        422,
        "INVALID_REQUEST",
    ),
    (
        b'{"customer_id": "c", "items": [{"sku": "NO-SUCH-SKU", "quantity": 1}],'
        b' "payment_token": "tok_visa"}',
        {},
        422,
        "UNKNOWN_SKU",
    ),
    (b'{"customer_id": "' + b"c" * 70_000 + b'"}', {}, 413, "BODY_TOO_LARGE"),
]


@pytest.mark.parametrize(("body", "headers", "status", "code"), BAD_BODIES)
def test_bad_input_gets_a_problem_and_moves_nothing(
    stack: Stack, http: httpx.Client, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    stock_before = http.get(f"{stack.url('inventory')}/stock").json()
    payments_before = payment_summary(http, stack)
    answer = http.post(
        f"{stack.url('order')}/orders",
        content=body,
        headers={"content-type": "application/json", **headers},
    )
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.headers["content-type"] == "application/problem+json"
    assert http.get(f"{stack.url('inventory')}/stock").json() == stock_before
    assert payment_summary(http, stack) == payments_before


def test_a_reused_key_with_another_body_is_refused(stack: Stack, http: httpx.Client) -> None:
    first = place(http, stack, order_body({"MOUSE-WL": 1}), key="reused-key")
    payments = payment_summary(http, stack)
    other = place(http, stack, order_body({"MOUSE-WL": 5}), key="reused-key")
    assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_MISMATCH")
    assert other.json()["order_id"] == first.json()["id"]
    assert payment_summary(http, stack) == payments


def test_fifty_concurrent_orders_for_ten_posters(stack: Stack, http: httpx.Client) -> None:
    assert available(http, stack, "POSTER-LTD") == 10

    async def storm() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60.0) as client:
            return await asyncio.gather(
                *(
                    client.post(f"{stack.url('order')}/orders", json=order_body({"POSTER-LTD": 1}))
                    for _ in range(50)
                )
            )

    orders = [answer.json() for answer in asyncio.run(storm())]
    outcomes = sorted((o["status"], o["reason"]) for o in orders)
    assert outcomes == [("CONFIRMED", None)] * 10 + [("REJECTED", "OUT_OF_STOCK")] * 40
    stock = http.get(f"{stack.url('inventory')}/stock").json()["POSTER-LTD"]
    assert stock == {"initial": 10, "available": 0, "held": 10}
    confirmed = [o["id"] for o in orders if o["status"] == "CONFIRMED"]
    assert all(charge(http, stack, order_id) == "CHARGED" for order_id in confirmed)
    rejected = [o["id"] for o in orders if o["status"] == "REJECTED"]
    assert all(charge(http, stack, order_id) is None for order_id in rejected)


def test_every_service_reports_health_readiness_and_metrics(
    stack: Stack, http: httpx.Client
) -> None:
    for service in ("order", "inventory", "payment", "notification"):
        assert http.get(f"{stack.url(service)}/health").json()["service"] == service
        assert http.get(f"{stack.url(service)}/ready").status_code == 200
        assert "orderflow_http_requests_total" in http.get(f"{stack.url(service)}/metrics").text
        assert http.get(f"{stack.url(service)}/openapi.json").status_code == 200
    ready = http.get(f"{stack.url('order')}/ready").json()["checks"]
    assert ready == {"database": True, "inventory": True, "payment": True}


def test_the_callers_correlation_id_travels_to_every_service(
    stack: Stack, http: httpx.Client
) -> None:
    correlation_id = f"corr-{uuid.uuid4().hex}"
    answer = http.post(
        f"{stack.url('order')}/orders",
        json=order_body({"KB-MECH": 1}),
        headers={"X-Correlation-ID": correlation_id},
    )
    assert answer.headers["X-Correlation-ID"] == correlation_id
    order_id = answer.json()["id"]
    assert_every_line_names_the_order(
        stack, correlation_id, order_id, ("order", "inventory", "payment", "notification")
    )


def test_an_idle_keep_alive_connection_is_still_open_after_six_seconds(stack: Stack) -> None:
    """Load clients and the services' pooled clients reuse idle connections; a server that closed
    them after uvicorn's default 5 s would fail the request sent just as it closes one."""
    address = urlsplit(stack.url("inventory"))
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        for pause in (0.0, 6.0):
            time.sleep(pause)
            connection.request("GET", "/health")  # on the same socket: no reconnect in between
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
    finally:
        connection.close()
