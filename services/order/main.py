"""Composition root of the order service: store, downstream clients, saga, handlers, adapters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack

from fastapi import FastAPI

from services.kernel import serve
from services.kernel.config import Settings
from services.kernel.http.app import ReadinessCheck, create_http_app
from services.kernel.http.client import HealthProbe
from services.kernel.telemetry import Telemetry
from services.order import downstream
from services.order.api import rest
from services.order.handlers import OrderHandlers
from services.order.saga import Saga
from services.order.store import OrderStore

NAME = "order"
log = logging.getLogger(__name__)


async def bootstrap(settings: Settings, resources: AsyncExitStack) -> serve.RunningService:
    telemetry = Telemetry(NAME)
    store = OrderStore.open(settings.database_path(NAME))
    resources.callback(store.close)
    clients = await downstream.connect(settings.downstream_style, settings, telemetry, resources)
    saga = Saga(store, clients, telemetry)
    resources.push_async_callback(saga.drain_notifications)
    handlers = OrderHandlers(store, saga)
    probe = HealthProbe({s: settings.address(s).http_url for s in ("inventory", "payment")})
    resources.push_async_callback(probe.aclose)

    async def readiness() -> Mapping[str, bool]:
        return {**await handlers.is_ready(), **await probe.check()}

    async def recovery_loop() -> None:
        """Finish what a previous process left half-done, then keep retrying postponed work."""
        while True:
            if count := await handlers.recover():
                log.info("recovery drove %d unfinished order(s)", count)
            await asyncio.sleep(settings.recovery_interval_s)

    app = create_app(handlers, telemetry, readiness, settings.max_body_bytes)
    return serve.RunningService(
        http_app=app, http_port=settings.address(NAME).http_port, background=[recovery_loop]
    )


def create_app(
    handlers: OrderHandlers, telemetry: Telemetry, readiness: ReadinessCheck, max_body_bytes: int
) -> FastAPI:
    return create_http_app(
        title="orderflow order",
        description="Places orders and runs their saga: reserve, charge, confirm or compensate.",
        routers=[rest.router],
        telemetry=telemetry,
        readiness=readiness,
        max_body_bytes=max_body_bytes,
        problem_statuses=rest.PROBLEM_STATUSES,
        state={"handlers": handlers},
    )


def main() -> None:
    serve.run(NAME, bootstrap)


if __name__ == "__main__":
    main()
