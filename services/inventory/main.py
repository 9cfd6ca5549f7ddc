"""Composition root of the inventory service: builds the store, handlers and adapters."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from services.inventory.api import rest
from services.inventory.api.metrics import StockCollector
from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore
from services.kernel import serve
from services.kernel.config import Settings
from services.kernel.http.app import create_http_app
from services.kernel.telemetry import Telemetry

NAME = "inventory"


async def bootstrap(settings: Settings, resources: AsyncExitStack) -> serve.RunningService:
    store = InventoryStore.open(settings.database_path(NAME))
    resources.callback(store.close)
    store.seed(SEED)
    app = create_app(store, settings.max_body_bytes)
    return serve.RunningService(http_app=app, http_port=settings.address(NAME).http_port)


def create_app(store: InventoryStore, max_body_bytes: int) -> FastAPI:
    handlers = InventoryHandlers(store)
    telemetry = Telemetry(NAME)
    telemetry.registry.register(StockCollector(store))
    return create_http_app(
        title="orderflow inventory",
        description="Catalog, stock and all-or-nothing reservations.",
        routers=[rest.router],
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
