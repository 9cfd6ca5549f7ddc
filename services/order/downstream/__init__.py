"""How the order service calls inventory, payment and notification: one client per style.

Every orchestrated style has a `connect(settings, telemetry, resources)` that returns its
inventory and payment clients (closed with `resources`). Each goes behind its service's guard
(one per service, shared by the styles: the profile's retries, breaker and bulkhead).
Notifications go over REST in every style (they are not part of what the styles are compared on),
delivered at least once by the order service's delivery loop (services/order/notifications.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from services.kernel import styles
from services.kernel.config import Settings
from services.kernel.errors import DomainError
from services.kernel.resilience.guard import guards
from services.kernel.telemetry import Telemetry
from services.order.downstream import graphql, grpc, jsonrpc, rest
from services.order.downstream.guarded import GuardedInventory, GuardedPayment
from services.order.downstream.interfaces import (
    ChargeRefused,
    Downstream,
    DownstreamByStyle,
    Inventory,
    Payment,
    ReservationRefused,
)
from services.order.downstream.notification import connect_notifier

# What inventory and payment answer when they say no: answers, not failures, for the breaker.
ANSWERS: tuple[type[Exception], ...] = (ReservationRefused, ChargeRefused, DomainError)

Connector = Callable[[Settings, Telemetry, AsyncExitStack], Awaitable[tuple[Inventory, Payment]]]

CONNECTORS: dict[str, Connector] = {
    styles.REST: rest.connect,
    styles.GRPC: grpc.connect,
    styles.GRAPHQL: graphql.connect,
    styles.WEBSOCKET: jsonrpc.connect,
}


async def connect(
    settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> DownstreamByStyle:
    """The clients of every style; see `DownstreamByStyle` for which one an order uses."""
    notifier = connect_notifier(settings, telemetry, resources)
    guard = guards(["inventory", "payment"], settings.resilience, telemetry, ANSWERS)
    clients = {}
    for style, connector in CONNECTORS.items():
        inventory, payment = await connector(settings, telemetry, resources)
        clients[style] = Downstream(
            GuardedInventory(inventory, guard["inventory"]),
            GuardedPayment(payment, guard["payment"]),
            notifier,
        )
    fixed = settings.downstream_style
    return DownstreamByStyle(clients, fixed=None if fixed == styles.MATCH else fixed)
