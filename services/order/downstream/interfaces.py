"""The interfaces (hexagonal ports) of what the order saga needs from inventory, payment and
notification, whatever the style.

One client per style implements these (rest.py, grpc.py, graphql.py, and jsonrpc.py over
WebSocket). A client raises `DownstreamUnavailable` when the outcome of a call is unknown (timeout,
refused connection, server error) and the typed refusals below when the other side said no.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from services.kernel.contracts import Line
from services.order.domain import Order, OrderLine


class RefusalReason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    UNKNOWN_SKU = "UNKNOWN_SKU"


class ReservationRefused(Exception):
    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ChargeRefused(Exception):
    """Payment refused to process the charge at all (e.g. it was voided by an earlier refund)."""


class ChargeStatus(StrEnum):
    CHARGED = "CHARGED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus


class Inventory(Protocol):
    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        """Reserve all lines or none; returns the lines priced from the catalog."""

    async def release(self, order_id: str) -> None:
        """Give the stock back; idempotent, and safe before the reservation arrived."""


class Payment(Protocol):
    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult: ...

    async def refund(self, order_id: str) -> None:
        """Give money back, or void a charge that has not arrived yet; idempotent."""


class NotificationRefused(Exception):
    """Notification refused the notice for good (a 4xx): sending it again cannot change that."""


class Notifier(Protocol):
    async def notify(self, order: Order) -> None:
        """Tell the customer how the order ended; idempotent per order on the receiving side.
        Raises `DownstreamUnavailable` when the outcome is unknown, `NotificationRefused` when
        notification said no."""


@dataclass(frozen=True)
class Product:
    """A catalog entry as inventory has it now; the order service keeps no copy."""

    sku: str
    name: str
    price_cents: int
    available: int


class Catalog(Protocol):
    async def products(self, skus: Collection[str] | None = None) -> list[Product]:
        """The whole catalog, or only these SKUs of it (unknown ones are left out)."""


@dataclass(frozen=True)
class Downstream:
    inventory: Inventory
    payment: Payment
    notifier: Notifier

    def for_order(self, order: Order) -> Downstream:
        """One set of clients serves every order (see `DownstreamByStyle` for the choice)."""
        return self


class Routes(Protocol):
    def for_order(self, order: Order) -> Downstream: ...


@dataclass(frozen=True)
class DownstreamByStyle:
    """The clients of every style; an order is driven in the style it came in through, unless
    the operator fixed one style for all (ORDERFLOW_DOWNSTREAM_STYLE)."""

    clients: Mapping[str, Downstream]
    fixed: str | None = None

    def for_order(self, order: Order) -> Downstream:
        return self.clients[self.fixed or order.style]
