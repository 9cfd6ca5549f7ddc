"""The order service's client for the notification service (REST in every style).

Notifications are not part of what the styles are compared on, so one client serves them all.
It tells the delivery loop (services/order/notifications.py) which failures are worth a retry:
an answer that may change (no answer, a 5xx, a 408 or 429) is `DownstreamUnavailable`; any other
4xx is `NotificationRefused`, a refusal that repeating the same request cannot change.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from http import HTTPStatus
from typing import Any

from services.kernel.config import Settings
from services.kernel.errors import DownstreamUnavailable
from services.kernel.http.client import JsonClient, Reply
from services.kernel.telemetry import Telemetry
from services.order.domain import Order, document
from services.order.downstream.interfaces import NotificationRefused

# Refusals that a later try may not meet: the request itself was fine.
RETRYABLE = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS})


def connect_notifier(
    settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> RestNotifier:
    url = settings.address("notification").http_url
    client = JsonClient("notification", url, settings.notify_timeout_s, telemetry)
    resources.push_async_callback(client.aclose)
    return RestNotifier(client)


class RestNotifier:
    def __init__(self, client: JsonClient) -> None:
        self._client = client

    async def notify(self, order: Order) -> None:
        body: dict[str, Any] = {
            "order_id": order.id,
            "customer_id": order.customer_id,
            "kind": f"order.{order.status.lower()}",
            "reason": order.reason,
            "total_cents": order.total_cents,
            "callback_url": order.callback_url,
        }
        if order.callback_url is not None:  # the webhook carries the final order, whole
            body["order"] = document(order)
        reply = await self._client.call("notify", "POST", "/notifications", json=body)
        if reply.is_success:
            return
        cause = f"HTTP {reply.status_code}: {_detail(reply)}"
        if reply.status_code in RETRYABLE:
            raise DownstreamUnavailable("notification", "notify", cause)
        raise NotificationRefused(cause)


def _detail(reply: Reply) -> str:
    try:
        body = reply.json()
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return "no problem details"
    return str(body.get("detail", "")) if isinstance(body, dict) else ""
