"""Builds a service's part of the broker style for its composition root: the link, the outbox
relay and (for a consuming service) the consumer, as background jobs of the service's loop.

The link connects in the background: a service starts and serves its other styles whether or
not the broker is up, and joins the choreography whenever it is.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from prometheus_client import Gauge

from services.kernel.broker.consumer import EventConsumer, UseCase
from services.kernel.broker.link import BrokerLink
from services.kernel.broker.outbox import Messages, OutboxRelay
from services.kernel.broker.topology import Topology
from services.kernel.config import Settings
from services.kernel.lease import Lease
from services.kernel.telemetry import Telemetry

Job = Callable[[], Coroutine[Any, Any, None]]


def broker_jobs(
    service: str,
    settings: Settings,
    telemetry: Telemetry,
    messages: Messages,
    routes: Mapping[str, UseCase],
) -> list[Job]:
    topology = Topology(settings.broker_namespace, settings.broker_retry_delays_ms)
    consumer = EventConsumer(service, topology, routes, telemetry)
    link = BrokerLink(
        settings.broker_url,
        topology,
        telemetry,
        consume=topology.queue(service),
        on_delivery=consumer,
    )
    consumer.attach(link)
    relay = OutboxRelay(
        messages, link, topology, Lease(settings.replica_id, settings.claim_lease_s)
    )
    backlog = Gauge(
        "orderflow_outbox_backlog",
        "Events written to the outbox and not yet confirmed by the broker.",
        registry=telemetry.registry,
    )
    backlog.set_function(messages.backlog)  # read at scrape time: grows while the broker is away

    async def broker_link() -> None:
        await link.run()

    async def outbox_relay() -> None:
        await relay.run()

    # Named functions, not bound `run` methods: the task names in logs say which job it is.
    return [broker_link, outbox_relay]
