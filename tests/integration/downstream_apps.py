"""The real inventory and payment apps on sockets, seeded, for the order service's downstream
clients to call (the REST and GraphQL client tests share them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.main import create_app as inventory_app
from services.inventory.store import InventoryStore
from services.kernel.telemetry import Telemetry
from services.payment.main import create_app as payment_app
from services.payment.main import create_handlers
from services.payment.store import PaymentStore
from tests.e2e.graphql_client import serving

MAX_BODY_BYTES = 65536


@asynccontextmanager
async def inventory_and_payment(directory: Path) -> AsyncIterator[dict[str, str]]:
    """The URLs of both apps, by service name, while they serve."""
    inventory_store = InventoryStore.open(directory / "inventory.db")
    inventory_store.seed(SEED)
    payment_store = PaymentStore.open(directory / "payment.db")
    telemetry = Telemetry("payment")
    inventory = inventory_app(
        inventory_store,
        InventoryHandlers(inventory_store),
        Telemetry("inventory"),
        max_body_bytes=MAX_BODY_BYTES,
    )
    payment = payment_app(
        create_handlers(payment_store, telemetry), telemetry, max_body_bytes=MAX_BODY_BYTES
    )
    try:
        async with serving(inventory) as inventory_url, serving(payment) as payment_url:
            yield {"inventory": inventory_url, "payment": payment_url}
    finally:
        inventory_store.close()
        payment_store.close()
