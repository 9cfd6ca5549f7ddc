"""The inventory REST adapter in-process, built by its composition root over a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.inventory.main import bootstrap
from services.kernel.config import Settings

PROBLEM = "application/problem+json"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings.from_env(
        {
            "ORDERFLOW_DATA_DIR": str(tmp_path),
            "ORDERFLOW_MAX_BODY_BYTES": "2048",
            "ORDERFLOW_INVENTORY_GRPC_PORT": "0",  # built, never started: any free port
        }
    )
    async with AsyncExitStack() as resources:
        running = await bootstrap(settings, resources)
        transport = httpx.ASGITransport(app=running.http_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://inventory") as made:
            yield made


async def reserve(client: httpx.AsyncClient, order_id: str, **lines: int) -> httpx.Response:
    items = [{"sku": sku, "quantity": qty} for sku, qty in lines.items()]
    return await client.post("/reservations", json={"order_id": order_id, "items": items})


async def available(client: httpx.AsyncClient, sku: str) -> int:
    product: dict[str, Any] = (await client.get(f"/products/{sku}")).json()
    return int(product["available"])


async def test_catalog_lists_the_seeded_products(client: httpx.AsyncClient) -> None:
    products = (await client.get("/products")).json()
    by_sku = {p["sku"]: p for p in products}
    assert by_sku["POSTER-LTD"] == {
        "sku": "POSTER-LTD",
        "name": "Limited edition poster",
        "price_cents": 4999,
        "available": 10,
    }
    assert by_sku["MUG-RETIRED"]["available"] == 0


async def test_reservation_prices_lines_and_is_idempotent(client: httpx.AsyncClient) -> None:
    first = await reserve(client, "o1", **{"POSTER-LTD": 2, "KB-MECH": 1})
    assert first.status_code == 201
    assert first.json()["total_cents"] == 2 * 4999 + 8999
    again = await reserve(client, "o1", **{"KB-MECH": 1, "POSTER-LTD": 2})
    assert again.status_code == 200 and again.json() == first.json()
    assert await available(client, "POSTER-LTD") == 8


async def test_out_of_stock_refuses_every_line(client: httpx.AsyncClient) -> None:
    refused = await reserve(client, "o1", **{"KB-MECH": 1, "POSTER-LTD": 11})
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
    body = refused.json()
    assert body["code"] == "OUT_OF_STOCK"
    assert body["shortages"] == [{"sku": "POSTER-LTD", "requested": 11, "available": 10}]
    assert await available(client, "KB-MECH") == 1_000_000
    assert (await client.get("/reservations/o1")).status_code == 404


async def test_unknown_sku_is_an_input_error(client: httpx.AsyncClient) -> None:
    refused = await reserve(client, "o1", NOPE=1)
    assert (refused.status_code, refused.json()["code"]) == (422, "UNKNOWN_SKU")
    assert refused.json()["skus"] == ["NOPE"]


async def test_release_restores_stock_once_and_refuses_a_late_reservation(
    client: httpx.AsyncClient,
) -> None:
    await reserve(client, "o1", **{"POSTER-LTD": 3})
    for _ in range(2):
        released = await client.post("/reservations/o1/release")
        assert released.status_code == 200 and released.json()["status"] == "RELEASED"
    assert await available(client, "POSTER-LTD") == 10
    early = await client.post("/reservations/o2/release")
    assert early.json() == {"order_id": "o2", "status": "RELEASED", "items": [], "total_cents": 0}
    late = await reserve(client, "o2", **{"POSTER-LTD": 1})
    assert (late.status_code, late.json()["code"]) == (409, "RESERVATION_RELEASED")
    assert await available(client, "POSTER-LTD") == 10


async def test_concurrent_reservations_never_oversell(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(
        *(reserve(client, f"o{n}", **{"POSTER-LTD": 3}) for n in range(8))
    )
    assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 5
    stock = (await client.get("/stock")).json()["POSTER-LTD"]
    assert stock == {"initial": 10, "available": 1, "held": 9}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"order_id": "o1", "items": [', 400, "MALFORMED_JSON"),
        (b'{"order_id": "o1"}', 422, "INVALID_REQUEST"),
        (
            b'{"order_id": "o1", "items": [{"sku": "KB-MECH", "quantity": "2"}]}',
            422,
            "INVALID_REQUEST",
        ),
        (
            b'{"order_id": "o1", "items": [{"sku": "KB-MECH", "quantity": 0}]}',
            422,
            "INVALID_REQUEST",
        ),
        (
            b'{"order_id": "o1", "items": [{"sku": "KB-MECH", "quantity": -1}]}',
            422,
            "INVALID_REQUEST",
        ),
        (b'{"order_id": "o1", "items": []}', 422, "INVALID_REQUEST"),
        (b'{"order_id": "o1", "items": [], "extra": 1}', 422, "INVALID_REQUEST"),
        (b"x" * 4096, 413, "BODY_TOO_LARGE"),
    ],
)
async def test_bad_input_gets_a_problem_and_moves_nothing(
    client: httpx.AsyncClient, body: bytes, status: int, code: str
) -> None:
    answer = await client.post(
        "/reservations", content=body, headers={"content-type": "application/json"}
    )
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.headers["content-type"] == PROBLEM
    assert (await client.get("/reservations/o1")).status_code == 404
    assert await available(client, "KB-MECH") == 1_000_000


async def test_a_streamed_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 512

    answer = await client.post(
        "/reservations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert (answer.status_code, answer.json()["code"]) == (413, "BODY_TOO_LARGE")


async def test_operations_endpoints_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok", "service": "inventory"}
    ready = await client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True}
    await client.get("/products")
    metrics = (await client.get("/metrics")).text
    assert (
        'orderflow_http_requests_total{method="GET",route="/products",status="200"} 1.0' in metrics
    )
    await reserve(client, "o1", **{"POSTER-LTD": 4})
    metrics = (await client.get("/metrics")).text
    assert 'orderflow_stock_units{sku="POSTER-LTD",state="available"} 6.0' in metrics
    assert 'orderflow_stock_units{sku="POSTER-LTD",state="held"} 4.0' in metrics
    await client.post("/reservations/o1/release")
    metrics = (await client.get("/metrics")).text
    assert 'orderflow_stock_units{sku="POSTER-LTD",state="available"} 10.0' in metrics
    assert 'orderflow_stock_units{sku="POSTER-LTD",state="held"} 0.0' in metrics
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/products", "/reservations", "/reservations/{order_id}/release"} <= set(paths)


async def test_correlation_id_is_echoed_or_created(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/products", headers={"X-Correlation-ID": "abc-123"})
    assert echoed.headers["X-Correlation-ID"] == "abc-123"
    created = await client.get("/products")
    assert len(created.headers["X-Correlation-ID"]) == 36
    refused = await client.get("/products", headers={"X-Correlation-ID": "x" * 500})
    assert refused.headers["X-Correlation-ID"] != "x" * 500


async def test_a_wrong_method_is_a_405_problem_that_says_what_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.delete("/products")
    assert (answer.status_code, answer.json()["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert answer.headers["Allow"] == "GET"
    assert answer.headers["content-type"] == PROBLEM


async def test_openapi_documents_problems_replays_and_the_domain_limits(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    reserve = spec["paths"]["/reservations"]["post"]["responses"]
    assert {"200", "201", "400", "409", "413", "422"} <= set(reserve)
    assert set(reserve["409"]["content"]) == {PROBLEM}
    line = spec["components"]["schemas"]["LineBody"]["properties"]
    assert (line["quantity"]["minimum"], line["quantity"]["maximum"]) == (1, 1000)
    # Documented only: the domain enforces the limit with its own message.
    refused = await reserve_raw(
        client, b'{"order_id": "o1", "items": [{"sku": "KB-MECH", "quantity": 1001}]}'
    )
    assert refused.json()["field"] == "items[0].quantity"


async def reserve_raw(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(
        "/reservations", content=body, headers={"content-type": "application/json"}
    )
