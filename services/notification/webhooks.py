"""Webhooks: POST each finished order to its callback URL, signed, until it is taken or given up.

`owe` writes the webhook in the transaction that records the notification (durable: a restart
resumes from the table). The loop delivers what is due, signed as the Standard Webhooks
specification says (services/kernel/webhooks.py) with the customer's derived secret. A 2xx ends
it; anything else (no answer, an error, a redirect, which is never followed so a receiver cannot
send the services elsewhere) is retried after the configured delays, and after the last one the
row becomes the dead-letter record (GET /webhooks?state=dead, orderflow_webhooks{state="dead"}).
A webhook's id is the same on every try, so a receiver that got one whose answer was lost can
tell the retry apart (the specification's idempotency advice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from functools import partial
from typing import Any, Final

import httpx

from services.kernel.clock import now_iso
from services.kernel.contracts import check_callback_url
from services.kernel.database import DatabaseUnavailable
from services.kernel.errors import InvalidRequest
from services.kernel.telemetry import Telemetry
from services.kernel.webhooks import customer_secret, sign
from services.notification.domain import Notification
from services.notification.webhook_store import State, Webhook, Webhooks

log = logging.getLogger(__name__)

BATCH: Final = 16  # webhooks in flight at once
TIMEOUT_S: Final = 5.0  # each try: a slow receiver holds one slot, not the loop
IDLE_S: Final = 5.0
MAX_ERROR: Final = 200


def _count(webhooks: Webhooks, state: State) -> int:
    return webhooks.counts()[state.value]


def payload(notification: Notification, order: Mapping[str, Any]) -> str:
    """The Standard Webhooks payload shape: type, timestamp, data (the final order, whole: the
    shared order document, as GET /orders/{id} answers it)."""
    body = {
        "type": notification.kind.value,
        "timestamp": notification.created_at,
        "data": dict(order),
    }
    return json.dumps(body, separators=(",", ":"))


class WebhookDelivery:
    def __init__(
        self,
        webhooks: Webhooks,
        *,
        master_secret: str,
        allowed_hosts: frozenset[str],
        retry_delays_ms: tuple[int, ...],
        telemetry: Telemetry,
    ) -> None:
        self._webhooks = webhooks
        self._master = master_secret
        self._hosts = allowed_hosts
        self._delays_s = tuple(ms / 1000 for ms in retry_delays_ms)
        self._wake = asyncio.Event()
        self._tries = telemetry.counter(
            "orderflow_webhook_tries", "Webhook delivery tries, by outcome.", ["outcome"]
        )
        states = telemetry.gauge("orderflow_webhooks", "Webhooks by state.", ["state"])
        for state in State:
            states.labels(state.value).set_function(partial(_count, webhooks, state))

    def owe(self, notification: Notification, url: str, order: Mapping[str, Any] | None) -> None:
        """Record the webhook of a new notification (inside its transaction). A URL the
        allow-list refuses, or a request without the order to send, is recorded dead at once:
        order checks the URL first and sends the order with it, so this is a sender's bug or a
        changed configuration, and the notification itself still counts."""
        error: str | None = None
        try:
            check_callback_url(url, self._hosts)
        except InvalidRequest as refused:
            error = f"refused: {refused.message}"
        if order is None:
            error = "refused: the request carried no order to send"
        webhook = Webhook(
            id=f"msg_{notification.order_id}",
            order_id=notification.order_id,
            customer_id=notification.customer_id,
            url=url,
            body="" if order is None else payload(notification, order),
            state=State.OWED if error is None else State.DEAD,
            attempts=0,
            last_error=error,
            updated_at=now_iso(),
        )
        self._webhooks.owe(webhook, time.time())

    def owed(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with httpx.AsyncClient(follow_redirects=False, timeout=TIMEOUT_S) as client:
            while True:
                self._wake.clear()
                try:
                    await self.deliver_due(client)
                except Exception:  # a bug or a locked database: the loop must outlive it
                    log.exception("delivering webhooks failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle_s())

    def _idle_s(self) -> float:
        try:
            next_at = self._webhooks.next_due()
        except DatabaseUnavailable:  # outside the loop's guard: it must not end the loop
            return IDLE_S
        if next_at is None:
            return IDLE_S
        return min(max(next_at - time.time(), 0.01), IDLE_S)

    async def deliver_due(self, client: httpx.AsyncClient) -> None:
        due = self._webhooks.due(time.time(), BATCH)
        await asyncio.gather(*(self._deliver(client, webhook) for webhook in due))

    async def _deliver(self, client: httpx.AsyncClient, webhook: Webhook) -> None:
        body = webhook.body.encode()
        key = customer_secret(self._master, webhook.customer_id)
        headers = sign(key, webhook.id, int(time.time()), body)
        headers["content-type"] = "application/json"
        try:
            reply = await client.post(webhook.url, content=body, headers=headers)
            error = None if reply.is_success else f"HTTP {reply.status_code}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:MAX_ERROR]
        self._settle(webhook, error)

    def _settle(self, webhook: Webhook, error: str | None) -> None:
        attempts = webhook.attempts + 1
        if error is None:
            self._tries.labels("delivered").inc()
            self._webhooks.settle(webhook.id, State.DELIVERED, attempts, None)
        elif attempts > len(self._delays_s):
            self._tries.labels("dead").inc()
            log.warning("webhook %s given up after %d tries: %s", webhook.id, attempts, error)
            self._webhooks.settle(webhook.id, State.DEAD, attempts, error)
        else:
            self._tries.labels("retry").inc()
            next_at = time.time() + self._delays_s[attempts - 1]
            self._webhooks.retry_at(webhook.id, attempts, error, next_at)
