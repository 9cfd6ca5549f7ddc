"""The order service's GraphQL clients against the real inventory and payment apps on sockets:
each answer maps onto the saga's ports as the REST clients map theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI, Response

from services.inventory.catalog import SEED
from services.kernel.config import Settings
from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable
from services.kernel.graphql.client import GraphQLClient
from services.kernel.http.client import JsonClient
from services.kernel.telemetry import Telemetry
from services.order.domain import OrderLine
from services.order.downstream import graphql
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeResult,
    ChargeStatus,
    RefusalReason,
    ReservationRefused,
)
from tests.e2e.graphql_client import serving
from tests.integration.downstream_apps import inventory_and_payment


@dataclass
class Clients:
    inventory: graphql.GraphQLInventory
    payment: graphql.GraphQLPayment
    catalog: graphql.GraphQLCatalog
    telemetry: Telemetry
    urls: dict[str, str]

    def calls(self, target: str, operation: str, outcome: str = "ok") -> float:
        counter = self.telemetry.downstream_calls.labels(target, operation, outcome)
        return float(counter._value.get())


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1]


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[Clients]:
    async with inventory_and_payment(tmp_path) as urls:
        settings = Settings.from_env(
            {
                "ORDERFLOW_INVENTORY_HTTP_PORT": port_of(urls["inventory"]),
                "ORDERFLOW_PAYMENT_HTTP_PORT": port_of(urls["payment"]),
            }
        )
        telemetry = Telemetry("order")
        async with AsyncExitStack() as resources:
            inventory_client, payment_client = await graphql.connect(settings, telemetry, resources)
            catalog = graphql.connect_catalog(settings, telemetry, resources)
            yield Clients(inventory_client, payment_client, catalog, telemetry, urls)


async def test_a_reservation_is_priced_and_released(clients: Clients) -> None:
    lines = (Line("KB-MECH", 2), Line("POSTER-LTD", 1))
    priced = await clients.inventory.reserve("o1", lines)
    assert priced == (OrderLine("KB-MECH", 2, 8999), OrderLine("POSTER-LTD", 1, 4999))
    assert await clients.inventory.reserve("o1", lines) == priced  # a retry, answered the same
    await clients.inventory.release("o1")
    await clients.inventory.release("o1")
    assert clients.calls("inventory", "graphql.reserve") == 2
    assert clients.calls("inventory", "graphql.release") == 2


@pytest.mark.parametrize(
    ("sku", "reason"),
    [("MUG-RETIRED", RefusalReason.OUT_OF_STOCK), ("NOPE", RefusalReason.UNKNOWN_SKU)],
)
async def test_refused_reservations_are_typed(
    clients: Clients, sku: str, reason: RefusalReason
) -> None:
    with pytest.raises(ReservationRefused) as refused:
        await clients.inventory.reserve("o1", (Line(sku, 1),))
    assert refused.value.reason is reason and sku in str(refused.value)


async def test_a_reservation_after_its_release_has_an_unknown_outcome(clients: Clients) -> None:
    await clients.inventory.release("o1")
    with pytest.raises(DownstreamUnavailable, match="RESERVATION_RELEASED"):
        await clients.inventory.reserve("o1", (Line("KB-MECH", 1),))


async def test_charges_declines_refunds_and_a_voided_charge(clients: Clients) -> None:
    assert await clients.payment.charge("o1", "c1", 8999, "tok_visa") == ChargeResult(
        ChargeStatus.CHARGED
    )
    declined = await clients.payment.charge("o2", "c1", 8999, "tok_chargeDeclined")
    assert declined == ChargeResult(ChargeStatus.DECLINED)
    await clients.payment.refund("o1")
    await clients.payment.refund("o3")  # before its charge: voids it
    with pytest.raises(ChargeRefused, match="voided"):
        await clients.payment.charge("o3", "c1", 8999, "tok_visa")
    # The conflict is a refusal, counted as the REST (409) and gRPC clients count theirs.
    assert clients.calls("payment", "graphql.charge") == 2
    assert clients.calls("payment", "graphql.charge", "refused") == 1


async def test_the_catalog_whole_or_by_sku(clients: Clients) -> None:
    assert len(await clients.catalog.products()) == len(SEED)
    [poster] = await clients.catalog.products({"POSTER-LTD", "NOPE"})
    assert (poster.sku, poster.price_cents, poster.available) == ("POSTER-LTD", 4999, 10)


async def test_graphql_errors_and_other_answers_are_unknown_outcomes(clients: Clients) -> None:
    async with AsyncExitStack() as resources:
        telemetry = clients.telemetry

        def at(url: str) -> GraphQLClient:
            client = JsonClient("inventory", url, 5.0, telemetry)
            resources.push_async_callback(client.aclose)
            return GraphQLClient(client)

        # The payment service has no `reserve`: its answer is a GraphQL validation error.
        wrong_schema = graphql.GraphQLInventory(at(clients.urls["payment"]))
        with pytest.raises(DownstreamUnavailable, match="GRAPHQL_VALIDATION_FAILED"):
            await wrong_schema.reserve("o1", (Line("KB-MECH", 1),))
        # A server without GraphQL: HTTP 404.
        async with serving(FastAPI()) as url:
            with pytest.raises(DownstreamUnavailable, match="HTTP 404"):
                await graphql.GraphQLPayment(at(url)).refund("o1")
        # Nobody listening.
        closed = graphql.GraphQLPayment(at("http://127.0.0.1:9"))
        with pytest.raises(DownstreamUnavailable):
            await closed.charge("o1", "c1", 1, "tok_visa")


@pytest.mark.parametrize(
    "body",
    [
        b"not JSON",
        b"\xff\xfe",  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # JSON, nested past the parser's recursion
        b'{"data": {"charge": {"__typename": "Payment", "status": "LOST"}}}',
        b'{"data": {"charge": {"__typename": "Payment"}}}',
    ],
    ids=["not-json", "not-utf8", "deep", "unknown-status", "no-status"],
)
async def test_an_unreadable_success_is_an_unknown_outcome(clients: Clients, body: bytes) -> None:
    answering = FastAPI()

    @answering.post("/graphql")
    async def answer() -> Response:
        return Response(body, media_type="application/json")

    async with AsyncExitStack() as resources, serving(answering) as url:
        client = JsonClient("payment", url, 5.0, clients.telemetry)
        resources.push_async_callback(client.aclose)
        payment = graphql.GraphQLPayment(GraphQLClient(client))
        with pytest.raises(DownstreamUnavailable, match="unreadable answer"):
            await payment.charge("o1", "c1", 8999, "tok_visa")
    assert clients.calls("payment", "graphql.charge", "unreadable") == 1
    assert clients.calls("payment", "graphql.charge", "ok") == 0
