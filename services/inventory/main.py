"""Composition root of the inventory service: builds the store, handlers and adapters."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from services.inventory.api import amqp, graphql, grpc, rest, ws
from services.inventory.api.metrics import StockCollector
from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore
from services.kernel import serve
from services.kernel.broker.wiring import broker_jobs
from services.kernel.config import Settings
from services.kernel.control import control_servers
from services.kernel.faults import OPERATIONS, Faults
from services.kernel.heap import freeze_startup_heap
from services.kernel.http.app import create_http_app
from services.kernel.telemetry import Telemetry

NAME = "inventory"


async def bootstrap(settings: Settings, resources: AsyncExitStack) -> serve.RunningService:
    store = InventoryStore.open(settings.database_location(NAME))
    resources.callback(store.close)
    store.seed(SEED)
    telemetry = Telemetry(NAME)
    faults = Faults(OPERATIONS[NAME], telemetry)
    handlers = InventoryHandlers(store, faults)
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
        http_app=create_app(store, handlers, telemetry, max_body_bytes=settings.max_body_bytes),
        http_port=address.http_port,
        servers=[grpc_server, *control_servers(NAME, settings, faults)],
        background=broker_jobs(
            NAME, settings, telemetry, store.messages, amqp.routes(handlers, store.messages)
        ),
    )


def create_app(
    store: InventoryStore,
    handlers: InventoryHandlers,
    telemetry: Telemetry,
    *,
    max_body_bytes: int,
) -> FastAPI:
    """The service's HTTP app: REST, GraphQL and JSON-RPC over WebSocket (tests build it so)."""
    telemetry.registry.register(StockCollector(store))
    return create_http_app(
        title="orderflow inventory",
        description="Catalog, stock and all-or-nothing reservations.",
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


def main() -> None:
    serve.run(NAME, bootstrap)


if __name__ == "__main__":
    main()
