from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kernel.contracts import TOKEN_APPROVES, TOKEN_DECLINES
from services.kernel.telemetry import Telemetry
from services.payment.main import create_app, create_handlers
from services.payment.store import PaymentStore

MAX_BODY_BYTES = 1024
EMPTY_SUMMARY = {"CHARGED": 0, "DECLINED": 0, "REFUNDED": 0, "VOIDED": 0, "charged_cents": 0}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PaymentStore]:
    opened = PaymentStore.open(tmp_path / "payment.db")
    yield opened
    opened.close()


@pytest.fixture
async def client(store: PaymentStore) -> AsyncIterator[httpx.AsyncClient]:
    telemetry = Telemetry("payment")
    app = create_app(create_handlers(store, telemetry), telemetry, max_body_bytes=MAX_BODY_BYTES)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def charge_body(
    order_id: str = "ord-1", amount: Any = 14997, token: str = TOKEN_APPROVES
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "cust-1",
        "amount_cents": amount,
        "payment_token": token,
    }


async def summary(client: httpx.AsyncClient) -> dict[str, int]:
    response = await client.get("/payments/summary")
    assert response.status_code == 200
    found: dict[str, int] = response.json()
    return found


async def test_approved_charge_is_created(client: httpx.AsyncClient) -> None:
    response = await client.post("/charges", json=charge_body())
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "CHARGED"
    assert set(body) == {
        "order_id",
        "customer_id",
        "amount_cents",
        "status",
        "created_at",
        "updated_at",
    }
    assert (body["order_id"], body["customer_id"], body["amount_cents"]) == (
        "ord-1",
        "cust-1",
        14997,
    )
    fetched = await client.get("/charges/ord-1")
    assert fetched.json() == body


async def test_declined_charge_is_recorded_not_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/charges", json=charge_body(token=TOKEN_DECLINES))
    assert response.status_code == 201
    assert response.json()["status"] == "DECLINED"
    assert (await summary(client))["DECLINED"] == 1
    assert (await summary(client))["charged_cents"] == 0


async def test_replay_returns_the_same_record_and_never_charges_twice(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/charges", json=charge_body())
    second = await client.post("/charges", json=charge_body())
    assert second.status_code == 200
    assert second.json() == first.json()
    assert await summary(client) == {**EMPTY_SUMMARY, "CHARGED": 1, "charged_cents": 14997}


async def test_same_order_with_other_details_is_a_conflict(client: httpx.AsyncClient) -> None:
    await client.post("/charges", json=charge_body())
    response = await client.post("/charges", json=charge_body(amount=1))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "IDEMPOTENCY_MISMATCH"
    assert (await client.get("/charges/ord-1")).json()["amount_cents"] == 14997


async def test_refund_after_charge(client: httpx.AsyncClient) -> None:
    await client.post("/charges", json=charge_body())
    response = await client.post("/charges/ord-1/refund")
    assert response.status_code == 200
    assert response.json()["status"] == "REFUNDED"
    assert await summary(client) == {**EMPTY_SUMMARY, "REFUNDED": 1}
    replay = await client.post("/charges", json=charge_body())
    assert replay.status_code == 200
    assert replay.json()["status"] == "REFUNDED"


async def test_refund_of_a_decline_keeps_it_declined(client: httpx.AsyncClient) -> None:
    await client.post("/charges", json=charge_body(token=TOKEN_DECLINES))
    response = await client.post("/charges/ord-1/refund")
    assert response.json()["status"] == "DECLINED"


async def test_refund_is_idempotent(client: httpx.AsyncClient) -> None:
    await client.post("/charges", json=charge_body())
    first = await client.post("/charges/ord-1/refund")
    second = await client.post("/charges/ord-1/refund")
    assert second.status_code == 200
    assert second.json() == first.json()
    assert (await summary(client))["REFUNDED"] == 1


async def test_refund_before_charge_voids_the_late_charge(client: httpx.AsyncClient) -> None:
    refund = await client.post("/charges/ord-1/refund")
    assert refund.status_code == 200
    assert refund.json()["status"] == "VOIDED"
    assert refund.json()["customer_id"] is None
    late = await client.post("/charges", json=charge_body())
    assert late.status_code == 409
    assert late.json()["code"] == "CHARGE_VOIDED"
    assert await summary(client) == {**EMPTY_SUMMARY, "VOIDED": 1}


async def test_unknown_charge_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/charges/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "NOT_FOUND"


async def test_summary_counts_mixed_outcomes(client: httpx.AsyncClient) -> None:
    await client.post("/charges", json=charge_body("a", 1000))
    await client.post("/charges", json=charge_body("b", 500))
    await client.post("/charges", json=charge_body("c", 700, TOKEN_DECLINES))
    await client.post("/charges/b/refund")
    await client.post("/charges/d/refund")
    assert await summary(client) == {
        "CHARGED": 1,
        "DECLINED": 1,
        "REFUNDED": 1,
        "VOIDED": 1,
        "charged_cents": 1000,
    }


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/charges", content=b'{"order_id": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "MALFORMED_JSON"
    assert await summary(client) == EMPTY_SUMMARY


@pytest.mark.parametrize(
    "body",
    [
        charge_body(amount="14997"),
        charge_body(amount=True),
        charge_body(amount=-5),
        charge_body(amount=0),
        charge_body(token="tok_amex"),
        charge_body(order_id=""),
        {k: v for k, v in charge_body().items() if k != "customer_id"},
        {**charge_body(), "currency": "EUR"},
    ],
)
async def test_bad_input_is_422_and_stores_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/charges", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "INVALID_REQUEST"
    assert await summary(client) == EMPTY_SUMMARY
    assert (await client.get("/charges/ord-1")).status_code == 404


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = charge_body(order_id="x" * (MAX_BODY_BYTES + 1))
    response = await client.post("/charges", json=body)
    assert response.status_code == 413
    assert response.json()["code"] == "BODY_TOO_LARGE"
    assert await summary(client) == EMPTY_SUMMARY


async def test_operations_endpoints_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "service": "payment"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True}
    await client.post("/charges", json=charge_body())
    await client.post("/charges", json=charge_body())
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'orderflow_payments_total{status="CHARGED"} 1.0' in metrics.text


async def test_not_ready_when_the_database_is_gone(
    client: httpx.AsyncClient, store: PaymentStore
) -> None:
    store.close()
    ready = await client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": False}


async def test_audit_lists_every_payment_row_by_order_id(client: httpx.AsyncClient) -> None:
    assert (await client.get("/audit")).json() == {"payments": [], "next_after": None}
    await client.post("/charges", json=charge_body("ord-3", 1500))
    await client.post("/charges", json=charge_body("ord-1", 2500, token=TOKEN_DECLINES))
    await client.post("/charges", json=charge_body("ord-2", 3500))
    await client.post("/charges/ord-2/refund")
    await client.post("/charges/ord-0/refund")  # before any charge: a VOIDED marker of 0 cents
    answer = await client.get("/audit")
    assert answer.status_code == 200
    assert answer.json() == {
        "payments": [
            ["ord-0", "VOIDED", 0],
            ["ord-1", "DECLINED", 2500],
            ["ord-2", "REFUNDED", 3500],
            ["ord-3", "CHARGED", 1500],
        ],
        "next_after": None,
    }
    first = (await client.get("/audit", params={"limit": 3})).json()
    assert first["next_after"] == "ord-2" and len(first["payments"]) == 3
    last = (await client.get("/audit", params={"limit": 3, "after": "ord-2"})).json()
    assert last == {"payments": [["ord-3", "CHARGED", 1500]], "next_after": None}
    too_many = await client.get("/audit", params={"limit": 1001})
    assert too_many.status_code == 422 and too_many.json()["code"] == "INVALID_REQUEST"
