"""Composition root of the payment service: builds the store, handlers and adapters."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from services.kernel import serve
from services.kernel.broker.wiring import broker_jobs
from services.kernel.config import Settings
from services.kernel.control import control_servers
from services.kernel.faults import OPERATIONS, Faults
from services.kernel.heap import freeze_startup_heap
from services.kernel.http.app import create_http_app
from services.kernel.telemetry import Telemetry
from services.payment.api import amqp, graphql, grpc, rest, ws
from services.payment.domain import PaymentStatus
from services.payment.handlers import PaymentHandlers
from services.payment.store import PaymentStore

NAME = "payment"


def create_handlers(
    store: PaymentStore, telemetry: Telemetry, faults: Faults | None = None
) -> PaymentHandlers:
    payments = telemetry.counter(
        "orderflow_payments", "Payment states recorded (replays excluded), by status.", ["status"]
    )

    def recorded(status: PaymentStatus) -> None:
        payments.labels(status).inc()

    return PaymentHandlers(store, on_recorded=recorded, faults=faults)


def create_app(handlers: PaymentHandlers, telemetry: Telemetry, *, max_body_bytes: int) -> FastAPI:
    """The service's HTTP app: REST, GraphQL and JSON-RPC over WebSocket (tests build it so)."""
    return create_http_app(
        title="orderflow payment",
        description="Charges (idempotent per order), refunds and the payment audit summary.",
        routers=[
            rest.router,
            graphql.create_router(max_body_bytes),
            ws.create_router(max_message_bytes=max_body_bytes),
        ],
        telemetry=telemetry,
        readiness=handlers.is_ready,
        max_body_bytes=max_body_bytes,
        problem_statuses=rest.PROBLEM_STATUSES,
        state={"handlers": handlers},
    )


async def bootstrap(settings: Settings, resources: AsyncExitStack) -> serve.RunningService:
    store = PaymentStore.open(settings.database_location(NAME))
    resources.callback(store.close)
    telemetry = Telemetry(NAME)
    faults = Faults(OPERATIONS[NAME], telemetry)
    handlers = create_handlers(store, telemetry, faults)
    address = settings.address(NAME)
    grpc_server, _ = grpc.create_server(
        handlers,
        settings.host,
        address.grpc_port,
        max_message_bytes=settings.max_body_bytes,
        telemetry=telemetry,
    )
    freeze_startup_heap()  # what start-up built stays: no collection needs to walk it
    return serve.RunningService(
        http_app=create_app(handlers, telemetry, max_body_bytes=settings.max_body_bytes),
        http_port=address.http_port,
        servers=[grpc_server, *control_servers(NAME, settings, faults)],
        background=broker_jobs(
            NAME, settings, telemetry, store.messages, amqp.routes(handlers, store.messages)
        ),
    )


def main() -> None:
    serve.run(NAME, bootstrap)


if __name__ == "__main__":
    main()
