"""`POST /orders` with `Prefer: respond-async`, in-process: the REST adapter, the choreography's
place use case and the real SQLite store (its outbox), with fakes of the downstream ports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.vocabulary import TERMINAL
from services.kernel.broker import catalogue as ev
from services.kernel.telemetry import Telemetry
from services.order.choreography import OrderChoreography
from services.order.downstream.interfaces import ChargeResult, Downstream
from services.order.handlers import OrderHandlers
from services.order.main import create_app
from services.order.saga import Saga
from tests.integration.test_order_rest import PROBLEM, Stack, order_body
from tests.unit.fakes import FakeNotifier, FakePayment

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    return Stack(tmp_path / "order.db")


async def client_of(stack: Stack, with_choreography: bool) -> httpx.AsyncClient:
    async def ready() -> Mapping[str, bool]:
        return await stack.handlers.is_ready()

    choreography = OrderChoreography(stack.store) if with_choreography else None
    app = create_app(stack.handlers, Telemetry("order"), ready, 4096, choreography)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://order")


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_of(stack, with_choreography=True) as made:
        yield made


async def test_202_records_the_order_and_its_order_placed_together(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    answer = await client.post("/orders", json=order_body(), headers=ASYNC)
    assert answer.status_code == 202
    order = answer.json()
    assert order["status"] == "PENDING"
    stored = stack.store.get(order["id"])
    assert stored is not None and stored.style == "broker"
    [placed] = stack.store.messages.unpublished()
    assert placed.type == ev.ORDER_PLACED
    assert json.loads(placed.body)["data"]["order_id"] == order["id"]


async def test_a_replay_emits_nothing_new_and_a_mismatch_writes_nothing(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    headers = {**ASYNC, "Idempotency-Key": "k-1"}
    first = await client.post("/orders", json=order_body(), headers=headers)
    again = await client.post("/orders", json=order_body(), headers=headers)
    other = await client.post("/orders", json=order_body(quantity=3), headers=headers)
    assert (first.status_code, again.status_code, other.status_code) == (202, 202, 422)
    assert again.json()["id"] == first.json()["id"]
    assert other.json()["code"] == "IDEMPOTENCY_MISMATCH"
    assert [m.type for m in stack.store.messages.unpublished()] == [ev.ORDER_PLACED]


async def test_an_invalid_request_is_refused_before_anything_is_written(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    answer = await client.post("/orders", json=order_body(token="tok_unknown"), headers=ASYNC)
    assert answer.status_code == 422
    assert stack.store.messages.unpublished() == []
    assert stack.store.status_counts() == {}


async def test_without_the_choreography_the_preference_is_ignored(stack: Stack) -> None:
    # RFC 7240: a server may ignore a preference; then REST answers as always (201, saga run).
    async with await client_of(stack, with_choreography=False) as client:
        answer = await client.post("/orders", json=order_body(), headers=ASYNC)
    assert answer.status_code == 201
    assert "Preference-Applied" not in answer.headers
    assert answer.json()["status"] == "CONFIRMED"


ORCHESTRATED = {"Prefer": "respond-async, flow=orchestrated"}


async def final_of(client: httpx.AsyncClient, location: str) -> dict[str, Any]:
    """The order once final, by long polls (each returns at the next change)."""
    for _ in range(5):  # PENDING, RESERVED, PAID, CONFIRMED: at most four changes
        order: dict[str, Any] = (await client.get(location, params={"wait": "5s"})).json()
        if order["status"] in TERMINAL:
            return order
    raise AssertionError(f"{location} did not end: {order}")


async def test_the_orchestrated_flow_answers_202_at_once_and_its_saga_finishes_the_order(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    answer = await client.post("/orders", json=order_body(), headers=ORCHESTRATED)
    assert answer.status_code == 202
    assert answer.headers["Preference-Applied"] == "respond-async, flow=orchestrated"
    order = answer.json()
    assert order["status"] == "PENDING"  # answered before the saga ran
    stored = stack.store.get(order["id"])
    assert stored is not None and stored.style == "rest"  # the saga's order, not the events'
    assert stack.store.messages.unpublished() == []  # no order.placed: nothing choreographed
    assert (await final_of(client, answer.headers["Location"]))["status"] == "CONFIRMED"


async def test_the_orchestrated_flow_replays_a_key_and_ends_an_unknown_sku_rejected(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    headers = {**ORCHESTRATED, "Idempotency-Key": "k-2"}
    first = await client.post("/orders", json=order_body(), headers=headers)
    again = await client.post("/orders", json=order_body(), headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    unknown = await client.post("/orders", json=order_body(sku="NO-SUCH-SKU"), headers=ORCHESTRATED)
    assert unknown.status_code == 202  # not bad input here: the stream says how it ended
    final = await final_of(client, unknown.headers["Location"])
    assert (final["status"], final["reason"]) == ("REJECTED", "UNKNOWN_SKU")


class HeldPayment(FakePayment):
    """Charges only once `release` is set: the sagas stay in flight until then."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult:
        await self.release.wait()
        return await super().charge(order_id, customer_id, amount_cents, token)


async def test_the_orchestrated_flow_refuses_an_order_beyond_its_sagas_in_flight(
    stack: Stack,
) -> None:
    """202s start sagas that outlive their requests: beyond the process's limit a new one is
    refused with 503 and Retry-After, nothing recorded; once the sagas end, it is accepted."""
    payment = HeldPayment()
    downstream = Downstream(stack.inventory, payment, FakeNotifier())
    stack.handlers = OrderHandlers(
        stack.store, Saga(stack.store, downstream, Telemetry("order")), max_sagas_in_flight=2
    )
    async with await client_of(stack, with_choreography=False) as client:
        first, second = [
            await client.post("/orders", json=order_body(), headers=ORCHESTRATED) for _ in "12"
        ]
        assert (first.status_code, second.status_code) == (202, 202)
        refused = await client.post(
            "/orders", json=order_body(), headers={**ORCHESTRATED, "Idempotency-Key": "k-3"}
        )
        assert refused.status_code == 503
        assert refused.headers["content-type"] == PROBLEM
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["code"] == "TOO_MANY_ORDERS_IN_FLIGHT"
        assert sum(stack.store.status_counts().values()) == 2  # the refused one: not recorded

        payment.release.set()
        for answer in (first, second):
            final = await final_of(client, answer.headers["Location"])
            assert final["status"] == "CONFIRMED"
        for _ in range(100):  # a client retrying (faster than Retry-After): the sagas end
            again = await client.post(  # just after their orders' final status (the notice)
                "/orders", json=order_body(), headers={**ORCHESTRATED, "Idempotency-Key": "k-3"}
            )
            if again.status_code != 503:
                break
            await asyncio.sleep(0.02)
        assert again.status_code == 202
        assert (await final_of(client, again.headers["Location"]))["status"] == "CONFIRMED"
