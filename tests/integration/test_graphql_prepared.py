"""Prepared operations (services/kernel/graphql/prepared.py): a document the service has seen
and found valid runs again without strawberry's view, and must answer exactly as strawberry's
path answered it the first time, errors included; anything else still goes strawberry's way.

The order service in-process (its store and saga real, its downstream ports fakes), each
request sent twice: the first takes strawberry's path and caches the document, the second the
prepared one (counted, so a test cannot pass with the prepared path never taken)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.clients.documents import PLACE_ORDER
from services.kernel.graphql import prepared, router
from services.order.downstream.interfaces import Product
from tests.e2e.graphql_client import place_input
from tests.integration.test_graphql_order import Stack

CATALOG = "query Catalog { products { sku name available } }"
ORDERS = "query Orders($customer: String!) { orders(customerId: $customer) { id status } }"
ORDER = "query Order($id: ID!) { order(id: $id) { id } }"
TWO_OPERATIONS = """
query Names { products { name } }
query Skus { products { sku } }
"""


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    return Stack(tmp_path / "order.db")


@pytest.fixture
def prepared_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the operations that took the prepared path."""
    runs: list[int] = []
    original = prepared.execute_prepared

    async def counted(*args: Any) -> dict[str, Any]:
        runs.append(1)
        return await original(*args)

    monkeypatch.setattr(router, "execute_prepared", counted)
    return runs


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as made:
        yield made


async def twice(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[tuple[int, str, Any], tuple[int, str, Any]]:
    async def once() -> tuple[int, str, Any]:
        answer = await client.post("/graphql", json=body, headers=headers)
        return answer.status_code, answer.headers["content-type"], answer.json()

    return await once(), await once()


@pytest.mark.parametrize(
    "headers",
    [None, {"content-type": "application/json; charset=utf-8"}, {"accept": "application/json"}],
    ids=["json", "json-with-charset", "json-accepted"],
)
@pytest.mark.parametrize(
    "body",
    [
        {"query": CATALOG},
        {"query": ORDERS, "variables": {"customer": "c1"}, "extensions": {}},
        {"query": ORDER, "variables": {"id": 5}},  # an Int is coerced to an ID, as specified
        {"query": ORDERS, "variables": {"customer": 5}},  # but not to a String: an error
        {"query": ORDERS, "variables": {}},
        {"query": ORDER, "variables": {"id": "no"}},
        {"query": TWO_OPERATIONS, "operationName": "Skus"},
        {"query": PLACE_ORDER, "variables": {"input": place_input({"KB-MECH": 0}, "c1")}},
    ],
    ids=[
        "catalog",
        "with-variables",
        "coerced-variable",
        "variable-error",
        "missing-variable",
        "null-result",
        "named-operation",
        "invalid-input-member",
    ],
)
async def test_the_prepared_answer_is_strawberrys_answer(
    client: httpx.AsyncClient,
    prepared_runs: list[int],
    body: dict[str, Any],
    headers: dict[str, str] | None,
) -> None:
    first, second = await twice(client, body, headers)
    assert second == first
    assert first[0] == 200 and first[1] == "application/json"
    assert prepared_runs == [1]


async def test_a_downstream_outage_is_coded_alike(
    client: httpx.AsyncClient, stack: Stack, prepared_runs: list[int]
) -> None:
    stack.catalog.down = True
    first, second = await twice(client, {"query": CATALOG})
    assert second == first
    assert first[2]["errors"][0]["extensions"]["code"] == "DOWNSTREAM_UNAVAILABLE"
    assert prepared_runs == [1]


async def test_an_unexpected_error_is_masked_and_logged_alike(
    client: httpx.AsyncClient,
    stack: Stack,
    prepared_runs: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(skus: Collection[str] | None = None) -> list[Product]:
        raise RuntimeError("a bug, with a secret in it")

    stack.catalog.products = broken  # type: ignore[method-assign]
    first, second = await twice(client, {"query": CATALOG})
    assert second == first
    error = first[2]["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in error["message"]
    logged = [r for r in caplog.records if r.exc_info and "secret" in str(r.exc_info[1])]
    assert len(logged) == 2  # once per path
    assert prepared_runs == [1]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"query": TWO_OPERATIONS, "operationName": "Neither"}, None),  # no such operation
        ({"query": TWO_OPERATIONS}, None),  # which one is ambiguous
        ({"query": CATALOG, "operationName": 7}, None),
        ({"query": CATALOG, "variables": [1]}, None),
        ({"query": CATALOG, "extensions": "x"}, None),
        ({"query": "{ products { sku nope } }"}, None),  # refused by validation
        ({"query": "{ products { sku "}, None),  # a syntax error
        ({"query": 'subscription S { orderUpdates(orderId: "x") { status } }'}, None),
        ({"query": CATALOG}, {"accept": "multipart/mixed"}),
        ({"query": CATALOG}, {"content-type": "application/json-patch+json"}),
    ],
    ids=[
        "unknown-operation",
        "ambiguous-operation",
        "operation-name-not-a-string",
        "variables-not-an-object",
        "extensions-not-an-object",
        "invalid-document",
        "syntax-error",
        "subscription-over-post",
        "stream-accepted",
        "another-json-type",
    ],
)
async def test_anything_else_still_takes_strawberrys_path(
    client: httpx.AsyncClient,
    prepared_runs: list[int],
    body: dict[str, Any],
    headers: dict[str, str] | None,
) -> None:
    first, second = await twice(client, body, headers)
    assert second == first
    assert prepared_runs == []


async def test_a_body_that_is_not_json_is_answered_by_strawberrys_path(
    client: httpx.AsyncClient, prepared_runs: list[int]
) -> None:
    answer = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert prepared_runs == []


@pytest.mark.parametrize(
    "variables",
    ['{"n": ' + "9" * 5000 + "}", '{"n": ' + "[" * 3000 + "]" * 3000 + "}"],
    ids=["a-number-of-5000-digits", "nesting-too-deep"],
)
async def test_a_hostile_body_around_a_prepared_query_is_refused_clearly(
    client: httpx.AsyncClient, prepared_runs: list[int], variables: str
) -> None:
    """The prepared route parses the body first: JSON that Python will not read, within the
    size limit, goes on to strawberry's path and its coded 400, and the service serves on."""
    first, _ = await twice(client, {"query": CATALOG})  # the query is prepared from here on
    body = '{"query": ' + json.dumps(CATALOG) + ', "variables": ' + variables + "}"
    answer = await client.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert prepared_runs == [1]
    again, _ = await twice(client, {"query": CATALOG})
    assert again == first


async def test_prepared_requests_are_counted_under_their_route(
    client: httpx.AsyncClient, prepared_runs: list[int]
) -> None:
    await twice(client, {"query": CATALOG})
    metrics = (await client.get("/metrics")).text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("orderflow_http_requests_total{") and 'route="/graphql"' in line
    ]
    assert counted and counted[0].endswith(" 2.0"), counted
    assert prepared_runs == [1]
