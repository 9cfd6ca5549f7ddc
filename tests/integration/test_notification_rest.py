from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kernel.telemetry import Telemetry
from services.notification.main import create_app, create_handlers
from services.notification.store import NotificationStore

MAX_BODY_BYTES = 1024


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NotificationStore]:
    opened = NotificationStore.open(tmp_path / "notification.db")
    yield opened
    opened.close()


@pytest.fixture
async def client(store: NotificationStore) -> AsyncIterator[httpx.AsyncClient]:
    telemetry = Telemetry("notification")
    handlers = create_handlers(store, telemetry)
    app = create_app(handlers, telemetry, max_body_bytes=MAX_BODY_BYTES)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def notify_body(
    order_id: str = "ord-1", customer_id: str = "cust-1", kind: str = "order.confirmed", **more: Any
) -> dict[str, Any]:
    return {"order_id": order_id, "customer_id": customer_id, "kind": kind, **more}


async def test_the_audit_lists_the_notifications_a_page_at_a_time(
    client: httpx.AsyncClient,
) -> None:
    for order_id in ("ord-2", "ord-1", "ord-3"):
        assert (await client.post("/notifications", json=notify_body(order_id))).status_code == 201
    pages = [(await client.get("/audit", params={"limit": 2})).json()]
    assert pages[0]["next_after"] == "ord-2"
    pages.append((await client.get("/audit", params={"limit": 2, "after": "ord-2"})).json())
    assert pages[1] == {"notifications": [["ord-3", "order.confirmed"]], "next_after": None}
    order_ids = [row[0] for page in pages for row in page["notifications"]]
    assert order_ids == ["ord-1", "ord-2", "ord-3"]
    refused = await client.get("/audit", params={"after": ""})
    assert refused.status_code == 422 and refused.json()["code"] == "INVALID_REQUEST"


async def summary(client: httpx.AsyncClient) -> dict[str, int]:
    found: dict[str, int] = (await client.get("/notifications/summary")).json()
    return found


async def test_new_notification_is_created(client: httpx.AsyncClient) -> None:
    response = await client.post("/notifications", json=notify_body(total_cents=14997))
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "order_id": "ord-1",
        "customer_id": "cust-1",
        "kind": "order.confirmed",
        "reason": None,
        "message": "Order ord-1 confirmed: 149.97 total",
        "created_at": body["created_at"],
        "duplicates": 0,
    }
    assert body["created_at"].endswith("Z")


async def test_repeat_is_counted_not_stored_twice(client: httpx.AsyncClient) -> None:
    body = notify_body(kind="order.cancelled", reason="PAYMENT_DECLINED")
    first = await client.post("/notifications", json=body)
    second = await client.post("/notifications", json=body)
    third = await client.post("/notifications", json=body)
    assert (first.status_code, second.status_code, third.status_code) == (201, 200, 200)
    assert third.json()["duplicates"] == 2
    assert third.json()["message"] == "Order ord-1 cancelled (PAYMENT_DECLINED)"
    assert third.json()["created_at"] == first.json()["created_at"]
    assert await summary(client) == {"notifications": 1, "duplicates": 2}


async def test_a_redelivery_is_answered_as_the_first_delivery(client: httpx.AsyncClient) -> None:
    """The order service sends again when it did not get the answer: the repeat gets the
    notification recorded the first time (same message, same time), and nobody is told twice."""
    first = (await client.post("/notifications", json=notify_body(total_cents=100))).json()
    again = await client.post("/notifications", json=notify_body(total_cents=100))
    assert again.status_code == 200
    assert {**again.json(), "duplicates": 0} == first
    told = {"notifications": [["ord-1", "order.confirmed"]], "next_after": None}
    assert (await client.get("/audit")).json() == told


async def test_another_outcome_for_a_told_order_is_a_conflict(client: httpx.AsyncClient) -> None:
    await client.post("/notifications", json=notify_body("ord-9", kind="order.confirmed"))
    other = await client.post(
        "/notifications", json=notify_body("ord-9", kind="order.cancelled", reason="X")
    )
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["code"] == "OUTCOME_CONFLICT"
    listed = (await client.get("/notifications", params={"order_id": "ord-9"})).json()
    assert [n["kind"] for n in listed["notifications"]] == ["order.confirmed"]
    assert await summary(client) == {"notifications": 1, "duplicates": 0}


async def test_listing_filters_newest_first(client: httpx.AsyncClient) -> None:
    await client.post("/notifications", json=notify_body("a", "alice"))
    await client.post("/notifications", json=notify_body("b", "bob", "order.rejected"))
    await client.post("/notifications", json=notify_body("c", "alice", "order.rejected"))
    by_customer = await client.get("/notifications", params={"customer_id": "alice"})
    assert by_customer.status_code == 200
    assert [n["order_id"] for n in by_customer.json()["notifications"]] == ["c", "a"]
    by_order = await client.get("/notifications", params={"order_id": "b"})
    assert [n["kind"] for n in by_order.json()["notifications"]] == ["order.rejected"]
    both = await client.get("/notifications", params={"order_id": "b", "customer_id": "alice"})
    assert both.json() == {"notifications": []}


async def test_listing_without_a_filter_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/notifications")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        notify_body(kind="order.shipped"),
        notify_body(total_cents="100"),
        notify_body(total_cents=-1),
        notify_body(reason=5),
        {"order_id": "ord-1", "kind": "order.confirmed"},
        notify_body(channel="sms"),
    ],
)
async def test_bad_input_is_422_and_stores_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/notifications", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_REQUEST"
    assert await summary(client) == {"notifications": 0, "duplicates": 0}


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/notifications", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert await summary(client) == {"notifications": 0, "duplicates": 0}


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/notifications", json=notify_body(reason="R" * MAX_BODY_BYTES))
    assert response.status_code == 413
    assert await summary(client) == {"notifications": 0, "duplicates": 0}


async def test_operations_endpoints_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json()["service"] == "notification"
    assert (await client.get("/ready")).json()["checks"] == {"database": True}
    await client.post("/notifications", json=notify_body())
    await client.post("/notifications", json=notify_body())
    metrics = (await client.get("/metrics")).text
    assert 'orderflow_notifications_total{kind="order.confirmed",outcome="new"} 1.0' in metrics
    assert 'orderflow_notifications_total{kind="order.confirmed",outcome="duplicate"} 1.0' in (
        metrics
    )
