"""Composition root of the order service: store, downstream clients, saga, handlers, adapters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.kernel import serve
from services.kernel.broker.wiring import broker_jobs
from services.kernel.config import DEFAULT_SSE_KEEPALIVE_S, DEFAULT_SSE_MAX_STREAMS, Settings
from services.kernel.control import control_servers
from services.kernel.database import DatabaseUnavailable
from services.kernel.faults import OPERATIONS, Faults
from services.kernel.heap import freeze_startup_heap
from services.kernel.http.app import ReadinessCheck, create_http_app
from services.kernel.http.client import HealthProbe
from services.kernel.lease import Lease
from services.kernel.telemetry import Telemetry
from services.order import downstream
from services.order.api import amqp, graphql, grpc, rest, sse, ws
from services.order.choreography import OrderChoreography
from services.order.downstream.graphql import connect_catalog
from services.order.handlers import OrderHandlers
from services.order.notifications import NotificationDelivery
from services.order.saga import Saga
from services.order.store import OrderStore
from services.order.updates import OrderUpdates

NAME = "order"
SAGA_GRACE_S = 1.0  # after the HTTP and gRPC servers' own grace for the requests in flight
log = logging.getLogger(__name__)


async def bootstrap(settings: Settings, resources: AsyncExitStack) -> serve.RunningService:
    telemetry = Telemetry(NAME)
    store = OrderStore.open(settings.database_location(NAME))
    resources.callback(store.close)
    clients = await downstream.connect(settings, telemetry, resources)
    # This replica's claims on sagas and owed notifications (others may share the database).
    lease = Lease(settings.replica_id, settings.claim_lease_s)
    # Finished orders' notifications, delivered until acknowledged (also what a crash left owed).
    delivery = NotificationDelivery(store, clients, telemetry, lease=lease)
    updates = OrderUpdates(settings.max_watchers)  # what clients follow live, bounded
    saga = Saga(store, clients, telemetry, on_owed=delivery.owed, lease=lease, updates=updates)
    # The catalog that GraphQL's `products` and `OrderLine.product` show, read from inventory.
    catalog = connect_catalog(settings, telemetry, resources)
    # One set of faults for both entries of `order.place`: the orchestrated styles' handler and
    # the broker command's reaction; each place request passes exactly one of them.
    faults = Faults(OPERATIONS[NAME], telemetry)
    hosts = settings.webhook_allowed_hosts
    handlers = OrderHandlers(
        store,
        saga,
        catalog=catalog,
        faults=faults,
        callback_hosts=hosts,
        max_sagas_in_flight=settings.max_sagas_in_flight,
    )
    # An exit stack unwinds in reverse: the sagas stop before the clients they call close.
    resources.push_async_callback(handlers.stop, SAGA_GRACE_S)
    if released := handlers.release_claims():
        log.info("released %d claim(s) of replicas gone (a previous run)", released)
    probe = HealthProbe({s: settings.address(s).http_url for s in ("inventory", "payment")})
    resources.push_async_callback(probe.aclose)

    async def readiness() -> Mapping[str, bool]:
        return {**await handlers.is_ready(), **await probe.check()}

    async def recovery_loop() -> None:
        """Finish what a previous process left half-done, then keep retrying postponed work."""
        while True:
            try:
                if count := await handlers.recover():
                    log.info("recovery drove %d unfinished order(s)", count)
            except DatabaseUnavailable as error:  # the loop must outlive an outage
                log.warning("recovery waits for the database: %s", error)
            await asyncio.sleep(settings.recovery_interval_s)

    choreography = OrderChoreography(
        store, on_saved=saga.updates.publish, faults=faults, callback_hosts=hosts
    )
    # Replicas on one PostgreSQL database: the changes the others save reach this one's watchers.
    relay = _update_relay(settings.database_location(NAME), store, saga.updates)
    stopping = asyncio.Event()  # set by serve.py at shutdown: the event streams end on it
    streams = sse.StreamLimit(settings.sse_max_streams, settings.sse_keepalive_s, stopping)
    app = create_app(handlers, telemetry, readiness, settings.max_body_bytes, choreography, streams)
    address = settings.address(NAME)
    grpc_server, _ = grpc.create_server(
        handlers,
        settings.host,
        address.grpc_port,
        max_message_bytes=settings.max_body_bytes,
        telemetry=telemetry,
    )
    broker = broker_jobs(
        NAME, settings, telemetry, store.messages, amqp.routes(choreography, store.messages)
    )
    freeze_startup_heap()  # what start-up built stays: no collection needs to walk it
    return serve.RunningService(
        http_app=app,
        http_port=address.http_port,
        background=[recovery_loop, delivery.run, *broker, *relay],
        servers=[grpc_server, *control_servers(NAME, settings, faults)],
        stopping=stopping,
    )


def _update_relay(
    location: Path | str, store: OrderStore, updates: OrderUpdates
) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    """The relay's loop, on PostgreSQL only (SQLite is one process: nothing to relay)."""
    if not str(location).startswith(("postgresql://", "postgres://")):
        return []
    from services.order.update_relay import UpdateRelay  # psycopg is loaded only when used

    return [UpdateRelay(str(location), store, updates).run]


def create_app(
    handlers: OrderHandlers,
    telemetry: Telemetry,
    readiness: ReadinessCheck,
    max_body_bytes: int,
    choreography: OrderChoreography | None = None,
    streams: sse.StreamLimit | None = None,
) -> FastAPI:
    """Without a choreography, `Prefer: respond-async` is ignored (RFC 7240 lets a server)."""
    streams = streams or sse.StreamLimit(DEFAULT_SSE_MAX_STREAMS, DEFAULT_SSE_KEEPALIVE_S)
    return create_http_app(
        title="orderflow order",
        description="Places orders and runs their saga: reserve, charge, confirm or compensate.",
        routers=[
            rest.router,
            sse.router,
            graphql.create_router(max_body_bytes),
            ws.create_router(max_message_bytes=max_body_bytes),
        ],
        telemetry=telemetry,
        readiness=readiness,
        max_body_bytes=max_body_bytes,
        problem_statuses=rest.PROBLEM_STATUSES,
        # REST's `Prefer: respond-async` places by the choreography's use case.
        state={"handlers": handlers, "choreography": choreography, "streams": streams},
    )


def main() -> None:
    serve.run(NAME, bootstrap)


if __name__ == "__main__":
    main()
