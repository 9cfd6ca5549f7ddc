"""Composition root of the notification service: builds the store, handlers and adapters."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from services.kernel import serve
from services.kernel.broker.wiring import broker_jobs
from services.kernel.config import Settings
from services.kernel.control import control_servers
from services.kernel.faults import OPERATIONS, Faults
from services.kernel.http.app import create_http_app
from services.kernel.telemetry import Telemetry
from services.notification.api import amqp, rest
from services.notification.domain import Notification
from services.notification.handlers import NotificationHandlers
from services.notification.store import NotificationStore
from services.notification.webhooks import WebhookDelivery

NAME = "notification"


def create_handlers(
    store: NotificationStore,
    telemetry: Telemetry,
    faults: Faults | None = None,
    webhooks: WebhookDelivery | None = None,
) -> NotificationHandlers:
    counted = telemetry.counter(
        "orderflow_notifications",
        "Notifications received, by kind and outcome (new or duplicate).",
        ["kind", "outcome"],
    )

    def count(notification: Notification, created: bool) -> None:
        counted.labels(notification.kind.value, "new" if created else "duplicate").inc()

    return NotificationHandlers(store, on_recorded=count, faults=faults, webhooks=webhooks)


def create_app(
    handlers: NotificationHandlers, telemetry: Telemetry, *, max_body_bytes: int
) -> FastAPI:
    """The service's HTTP app (tests build it the same way)."""
    return create_http_app(
        title="orderflow notification",
        description="Records what customers were told about their orders, once per outcome.",
        routers=[rest.router],
        telemetry=telemetry,
        readiness=handlers.is_ready,
        max_body_bytes=max_body_bytes,
        problem_statuses=rest.PROBLEM_STATUSES,
        state={"handlers": handlers},
    )


async def bootstrap(settings: Settings, resources: AsyncExitStack) -> serve.RunningService:
    store = NotificationStore.open(settings.database_location(NAME))
    resources.callback(store.close)
    telemetry = Telemetry(NAME)
    faults = Faults(OPERATIONS[NAME], telemetry)
    webhooks = WebhookDelivery(
        store.webhooks,
        master_secret=settings.webhook_master_secret,
        allowed_hosts=settings.webhook_allowed_hosts,
        retry_delays_ms=settings.webhook_retry_delays_ms,
        telemetry=telemetry,
    )
    handlers = create_handlers(store, telemetry, faults, webhooks)
    app = create_app(handlers, telemetry, max_body_bytes=settings.max_body_bytes)
    jobs = broker_jobs(
        NAME, settings, telemetry, store.messages, amqp.routes(handlers, store.messages)
    )
    servers: list[serve.Server] = [*control_servers(NAME, settings, faults)]
    return serve.RunningService(
        http_app=app,
        http_port=settings.address(NAME).http_port,
        background=[webhooks.run, *jobs],
        servers=servers,
    )


def main() -> None:
    serve.run(NAME, bootstrap)


if __name__ == "__main__":
    main()
