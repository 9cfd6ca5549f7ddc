"""Notification's webhook loop against its real SQLite store, with a scripted receiver
(httpx.MockTransport): owed with the notification, signed, retried on the configured delays,
dead-lettered after the last, a refused URL recorded dead, a redirect never followed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.kernel.telemetry import Telemetry
from services.kernel.webhooks import customer_secret, verify
from services.notification.domain import NotificationRequest
from services.notification.handlers import NotificationHandlers
from services.notification.store import NotificationStore
from services.notification.webhook_store import State
from services.notification.webhooks import WebhookDelivery

MASTER = "integration-webhook-master"
LOOPBACK = frozenset({"127.0.0.1"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NotificationStore]:
    opened = NotificationStore.open(tmp_path / "notification.db")
    yield opened
    opened.close()


def delivery(store: NotificationStore, delays_ms: tuple[int, ...] = (1, 1)) -> WebhookDelivery:
    return WebhookDelivery(
        store.webhooks,
        master_secret=MASTER,
        allowed_hosts=LOOPBACK,
        retry_delays_ms=delays_ms,
        telemetry=Telemetry("notification"),
    )


ORDER = {
    "id": "ord-1",
    "customer_id": "cust-1",
    "status": "CONFIRMED",
    "reason": None,
    "items": [{"sku": "BOOK-DDIA", "quantity": 1, "unit_price_cents": 8999}],
    "total_cents": 8999,
    "created_at": "2026-01-01T00:00:00.000000+00:00",
    "updated_at": "2026-01-01T00:00:01.000000+00:00",
}


async def notify(store: NotificationStore, loop: WebhookDelivery, url: str) -> None:
    handlers = NotificationHandlers(store, webhooks=loop)
    request = NotificationRequest("ord-1", "cust-1", "order.confirmed", None, 8999, url, ORDER)
    await handlers.notify(request)
    await handlers.notify(request)  # a redelivered notification owes no second webhook


async def rounds(loop: WebhookDelivery, answers: list[int], n: int) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = answers[min(len(seen), len(answers)) - 1]
        return httpx.Response(status, headers={"location": "http://127.0.0.1/elsewhere"})

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport, follow_redirects=False) as client:
        for _ in range(n):
            await loop.deliver_due(client)
            await asyncio.sleep(0.02)  # past the 1 ms retry delays: every retry is due
    return seen


async def test_a_webhook_is_signed_and_delivered_once(store: NotificationStore) -> None:
    loop = delivery(store)
    await notify(store, loop, "http://127.0.0.1/hook")
    seen = await rounds(loop, [204], 3)
    assert len(seen) == 1
    sent = seen[0]
    verify(customer_secret(MASTER, "cust-1"), dict(sent.headers), sent.content)
    assert json.loads(sent.content)["data"] == ORDER  # the final order, whole
    assert store.webhooks.counts() == {"owed": 0, "delivered": 1, "dead": 0}


async def test_retried_on_failure_then_dead_after_the_last_try(store: NotificationStore) -> None:
    loop = delivery(store, delays_ms=(1, 1))
    await notify(store, loop, "http://127.0.0.1/hook")
    seen = await rounds(loop, [500, 503, 500], 5)
    assert len(seen) == 3  # the first try and one per delay, then nothing more
    [dead] = store.webhooks.in_state(State.DEAD, 10)
    assert (dead.attempts, dead.last_error) == (3, "HTTP 500")


async def test_a_redirect_is_a_failure_and_is_not_followed(store: NotificationStore) -> None:
    loop = delivery(store, delays_ms=(1,))
    await notify(store, loop, "http://127.0.0.1/hook")
    seen = await rounds(loop, [307], 3)
    assert [str(r.url) for r in seen] == ["http://127.0.0.1/hook"] * 2
    [dead] = store.webhooks.in_state(State.DEAD, 10)
    assert dead.last_error == "HTTP 307"


async def test_a_url_off_the_allow_list_is_recorded_dead_and_never_called(
    store: NotificationStore,
) -> None:
    loop = delivery(store)
    await notify(store, loop, "http://10.0.0.1/hook")
    assert await rounds(loop, [204], 2) == []
    [dead] = store.webhooks.in_state(State.DEAD, 10)
    assert dead.attempts == 0 and (dead.last_error or "").startswith("refused: callback_url host")
    # The notification itself is recorded all the same.
    assert store.notification("ord-1") is not None


async def test_a_callback_without_the_order_to_send_is_recorded_dead_and_never_called(
    store: NotificationStore,
) -> None:
    loop = delivery(store)
    handlers = NotificationHandlers(store, webhooks=loop)
    url = "http://127.0.0.1/hook"
    await handlers.notify(NotificationRequest("ord-2", "cust-1", "order.confirmed", None, 1, url))
    assert await rounds(loop, [204], 2) == []  # never a summary in place of the order
    [dead] = store.webhooks.in_state(State.DEAD, 10)
    assert dead.last_error == "refused: the request carried no order to send"
    assert store.notification("ord-2") is not None  # the notification itself is recorded
