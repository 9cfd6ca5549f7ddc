"""Composition root of the payment service: builds the store, handlers and adapters."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from services.kernel import serve
from services.kernel.config import Settings
from services.kernel.http.app import create_http_app
from services.kernel.telemetry import Telemetry
from services.payment.api import rest
from services.payment.handlers import PaymentHandlers
from services.payment.store import PaymentStore

NAME = "payment"


def create_app(store: PaymentStore, *, max_body_bytes: int) -> FastAPI:
    """The service's HTTP app over an open store (tests build it the same way)."""
    telemetry = Telemetry(NAME)
    payments = telemetry.counter(
        "orderflow_payments", "Payment states recorded (replays excluded), by status.", ["status"]
    )
    handlers = PaymentHandlers(store, on_recorded=lambda status: payments.labels(status).inc())
    return create_http_app(
        title="orderflow payment",
        description="Charges (idempotent per order), refunds and the payment audit summary.",
        routers=[rest.router],
        telemetry=telemetry,
        readiness=handlers.is_ready,
        max_body_bytes=max_body_bytes,
        problem_statuses=rest.PROBLEM_STATUSES,
        state={"handlers": handlers},
    )


async def bootstrap(settings: Settings, resources: AsyncExitStack) -> serve.RunningService:
    store = PaymentStore.open(settings.database_path(NAME))
    resources.callback(store.close)
    app = create_app(store, max_body_bytes=settings.max_body_bytes)
    return serve.RunningService(http_app=app, http_port=settings.address(NAME).http_port)


def main() -> None:
    serve.run(NAME, bootstrap)


if __name__ == "__main__":
    main()
