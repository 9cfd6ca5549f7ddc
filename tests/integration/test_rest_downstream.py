"""The order service's REST clients: against the real inventory and payment apps on sockets, and
against a small HTTP server whose 2xx answers have the wrong shape. Each answer maps onto the
saga's ports as the gRPC, GraphQL and WebSocket clients map theirs; a 2xx that cannot be read is
an unknown outcome, which the saga compensates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable
from services.kernel.http.client import JsonClient
from services.kernel.telemetry import Telemetry
from services.order.domain import OrderLine, PlaceOrder, Reason, Status
from services.order.downstream import rest
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeResult,
    ChargeStatus,
    Downstream,
    Inventory,
    Payment,
    RefusalReason,
    ReservationRefused,
)
from services.order.handlers import OrderHandlers
from services.order.saga import Saga
from services.order.store import OrderStore
from tests.e2e.graphql_client import serving
from tests.integration.downstream_apps import inventory_and_payment
from tests.unit.fakes import FakeNotifier


@dataclass
class Clients:
    inventory: rest.RestInventory
    payment: rest.RestPayment
    urls: dict[str, str]


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[Clients]:
    async with inventory_and_payment(tmp_path) as urls, AsyncExitStack() as resources:
        yield Clients(
            rest.RestInventory(client_at(urls["inventory"], "inventory", resources)),
            rest.RestPayment(client_at(urls["payment"], "payment", resources)),
            urls,
        )


def counted(client: JsonClient, operation: str) -> dict[str, float]:
    """The client's downstream-call counts for `operation`, by outcome."""
    [metric] = [
        m for m in client._telemetry.registry.collect() if m.name.endswith("downstream_calls")
    ]
    return {
        sample.labels["outcome"]: sample.value
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["operation"] == operation
    }


def client_at(url: str, service: str, resources: AsyncExitStack) -> JsonClient:
    client = JsonClient(service, url, 5.0, Telemetry("order"))
    resources.push_async_callback(client.aclose)
    return client


async def test_a_reservation_is_priced_and_released(clients: Clients) -> None:
    lines = (Line("KB-MECH", 2), Line("POSTER-LTD", 1))
    priced = await clients.inventory.reserve("o1", lines)
    assert priced == (OrderLine("KB-MECH", 2, 8999), OrderLine("POSTER-LTD", 1, 4999))
    assert await clients.inventory.reserve("o1", lines) == priced  # a retry, answered the same
    await clients.inventory.release("o1")
    await clients.inventory.release("o1")


@pytest.mark.parametrize(
    ("sku", "reason"),
    [("MUG-RETIRED", RefusalReason.OUT_OF_STOCK), ("NOPE", RefusalReason.UNKNOWN_SKU)],
)
async def test_refused_reservations_are_typed(
    clients: Clients, sku: str, reason: RefusalReason
) -> None:
    with pytest.raises(ReservationRefused) as refused:
        await clients.inventory.reserve("o1", (Line(sku, 1),))
    assert refused.value.reason is reason


async def test_a_reservation_after_its_release_has_an_unknown_outcome(clients: Clients) -> None:
    await clients.inventory.release("o1")
    with pytest.raises(DownstreamUnavailable, match="RESERVATION_RELEASED"):
        await clients.inventory.reserve("o1", (Line("KB-MECH", 1),))


async def test_charges_declines_refunds_and_a_voided_charge(clients: Clients) -> None:
    charged = await clients.payment.charge("o1", "c1", 8999, "tok_visa")
    assert charged == ChargeResult(ChargeStatus.CHARGED)
    declined = await clients.payment.charge("o2", "c1", 8999, "tok_chargeDeclined")
    assert declined == ChargeResult(ChargeStatus.DECLINED)
    await clients.payment.refund("o1")
    await clients.payment.refund("o3")  # before its charge: voids it
    with pytest.raises(ChargeRefused, match="voided"):
        await clients.payment.charge("o3", "c1", 8999, "tok_visa")


@dataclass
class Odd:
    """A service whose reservations and charges answer what a test says; the rest is 200 {}."""

    status: int = 201
    body: bytes = b"{}"
    content_type: str = "application/json"
    seen: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            self.seen.append(request.url.path)
            return Response(self.body, self.status, media_type=self.content_type)

        async def compensation(request: Request) -> Response:
            self.seen.append(request.url.path)
            return Response(b"{}", 200, media_type="application/json")

        return Starlette(
            routes=[
                Route("/reservations", answer, methods=["POST"]),
                Route("/charges", answer, methods=["POST"]),
                Route("/reservations/{order_id}/release", compensation, methods=["POST"]),
                Route("/charges/{order_id}/refund", compensation, methods=["POST"]),
            ]
        )


@pytest.fixture
async def odd() -> AsyncIterator[tuple[Odd, JsonClient]]:
    service = Odd()
    async with serving(service.app()) as url, AsyncExitStack() as resources:
        yield service, client_at(url, "odd", resources)


ITEM = {"sku": "KB-MECH", "quantity": 1, "unit_price_cents": 8999}
UNREADABLE_RESERVATIONS = [
    (201, b"{}"),
    (201, b"not json at all"),
    (200, b""),
    (201, b"\xff\xfe"),  # not UTF-8
    (201, b"[" * 100_000 + b"]" * 100_000),  # nested deeper than a parser goes
    (201, b"[]"),
    (201, b"null"),
    (201, b'{"items": "KB-MECH"}'),
    (201, b'{"items": [["KB-MECH", 1]]}'),
    (201, b'{"items": [{"sku": "KB-MECH", "quantity": 1}]}'),
    (201, b'{"items": [{"sku": 7, "quantity": 1, "unit_price_cents": 1}]}'),
    (201, b'{"items": [{"sku": "KB-MECH", "quantity": true, "unit_price_cents": 1}]}'),
    (201, b'{"items": [{"sku": "KB-MECH", "quantity": 1, "unit_price_cents": "8999"}]}'),
    (201, b'{"items": [{"sku": "KB-MECH", "quantity": 1, "unit_price_cents": 1e400}]}'),
    (
        201,
        b'{"items": [{"sku": "KB-MECH", "quantity": 1, "unit_price_cents": ' + b"9" * 5000 + b"}]}",
    ),
]
UNREADABLE_CHARGES = [
    (201, b'{"status": "PENDING"}'),
    (201, b'{"status": "charged"}'),
    (201, b'{"status": 1}'),
    (201, b"{}"),
    (200, b"<html>ok</html>"),
    (200, b'["CHARGED"]'),
    (201, b"\xff"),
]


@pytest.mark.parametrize(("status", "body"), UNREADABLE_RESERVATIONS)
async def test_a_reservation_answer_of_the_wrong_shape_is_an_unknown_outcome(
    odd: tuple[Odd, JsonClient], status: int, body: bytes
) -> None:
    service, client = odd
    service.status, service.body = status, body
    with pytest.raises(DownstreamUnavailable, match="unreadable answer"):
        await rest.RestInventory(client).reserve("o1", (Line("KB-MECH", 1),))
    assert counted(client, "reserve") == {"unreadable": 1.0}


@pytest.mark.parametrize(("status", "body"), UNREADABLE_CHARGES)
async def test_a_charge_answer_of_the_wrong_shape_is_an_unknown_outcome(
    odd: tuple[Odd, JsonClient], status: int, body: bytes
) -> None:
    service, client = odd
    service.status, service.body = status, body
    with pytest.raises(DownstreamUnavailable, match="unreadable answer"):
        await rest.RestPayment(client).charge("o1", "c1", 8999, "tok_visa")
    assert counted(client, "charge") == {"unreadable": 1.0}


@pytest.mark.parametrize(
    ("status", "body"),
    [(302, b""), (404, b"<html>no</html>"), (409, b"[" * 100_000), (500, b"{}")],
)
async def test_other_answers_are_unknown_outcomes_too(
    odd: tuple[Odd, JsonClient], status: int, body: bytes
) -> None:
    service, client = odd
    service.status, service.body = status, body
    with pytest.raises(DownstreamUnavailable, match=f"HTTP {status}"):
        await rest.RestInventory(client).reserve("o1", (Line("KB-MECH", 1),))


async def test_a_readable_answer_from_the_same_server_is_a_result(
    odd: tuple[Odd, JsonClient],
) -> None:
    """The bad shapes above fail for their shape, not for the server."""
    service, client = odd
    service.body = b'{"items": [%s], "extra": true}' % str(ITEM).replace("'", '"').encode()
    priced = await rest.RestInventory(client).reserve("o1", (Line("KB-MECH", 1),))
    assert priced == (OrderLine("KB-MECH", 1, 8999),)
    service.body = b'{"status": "DECLINED"}'
    declined = await rest.RestPayment(client).charge("o1", "c1", 8999, "tok_visa")
    assert declined == ChargeResult(ChargeStatus.DECLINED)


async def test_the_saga_compensates_an_unreadable_answer(
    clients: Clients, odd: tuple[Odd, JsonClient], tmp_path: Path
) -> None:
    """Not a 500 and an order PENDING forever: the order fails and what may have happened is
    undone, on the service whose answer could not be read."""
    service, client = odd
    store = OrderStore.open(tmp_path / "order.db")

    async def place(
        inventory: Inventory, payment: Payment, key: str
    ) -> tuple[Status, Reason | None]:
        downstream = Downstream(inventory, payment, FakeNotifier())
        handlers = OrderHandlers(store, Saga(store, downstream, Telemetry("order")))
        command = PlaceOrder("c1", (Line("KB-MECH", 1),), "tok_visa", idempotency_key=key)
        order, _ = await handlers.place_order(command)
        return order.status, order.reason

    service.body = b"{}"  # reserve answers 201 {}
    assert await place(rest.RestInventory(client), clients.payment, "k1") == (
        Status.REJECTED,
        Reason.INVENTORY_UNAVAILABLE,
    )
    assert service.seen[-1].endswith("/release")
    service.body = b'{"status": "PENDING"}'  # charge answers a status nobody knows
    assert await place(clients.inventory, rest.RestPayment(client), "k2") == (
        Status.CANCELLED,
        Reason.PAYMENT_FAILED,
    )
    assert service.seen[-1].endswith("/refund")
    store.close()
