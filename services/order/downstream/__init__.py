"""How the order service calls inventory, payment and notification: one client per style."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Final

from services.kernel.config import Settings
from services.kernel.http.client import JsonClient
from services.kernel.telemetry import Telemetry
from services.order.downstream.ports import Downstream
from services.order.downstream.rest import RestInventory, RestNotifier, RestPayment

STYLES: Final = ("rest",)


async def connect(
    style: str, settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> Downstream:
    """Build the downstream clients for `style`; they are closed with `resources`."""
    if style not in STYLES:
        raise ValueError(f"unknown downstream style {style!r}; choose from {', '.join(STYLES)}")

    def client(service: str, timeout_s: float) -> JsonClient:
        url = settings.address(service).http_url
        made = JsonClient(service, url, timeout_s, telemetry)
        resources.push_async_callback(made.aclose)
        return made

    return Downstream(
        inventory=RestInventory(client("inventory", settings.call_timeout_s)),
        payment=RestPayment(client("payment", settings.call_timeout_s)),
        notifier=RestNotifier(client("notification", settings.notify_timeout_s)),
    )
