"""Hostile GraphQL documents against the real service processes (order, inventory, payment):
each shape of the fragment-bomb class is refused with a clear error within 100 ms, over HTTP
and over graphql-transport-ws, while `GET /health` on the same service, sent at the same time,
answers within 50 ms (before, a 600-byte bomb held a service's event loop for seconds)."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from graphql import get_introspection_query

from harness.clients.graphql import transport_ws, ws_url
from tests.integration.test_service_process import Service, service_env
from tests.unit.graphql_attacks import attacks, repeated_fields

SERVICES = ("order", "inventory", "payment")
LEVELS = (8, 11, 14)
ANSWER_MS = 100
HEALTH_MS = 50
ATTEMPTS = 3
LIMIT_CODES = {"QUERY_TOO_DEEP", "QUERY_TOO_LARGE"}
T = TypeVar("T")
_fresh = itertools.count()


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    started: dict[str, Service] = {}
    try:
        for name in SERVICES:
            path = tmp_path_factory.mktemp(name)
            env = service_env(path, name, {})
            log = path / f"{name}.log"
            with log.open("wb") as output:
                command = [sys.executable, "-m", f"services.{name}.main"]
                process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
            started[name] = Service(name, process, log, env)
        for service in started.values():
            service.wait_until_answering("/health")
        yield started
    finally:
        for service in started.values():
            service.process.terminate()
        for service in started.values():
            try:
                service.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a loop held by a bomb never sees the signal
                service.process.kill()
                service.process.wait()


def fresh(document: str) -> str:
    """The same document under a text no request sent before, so no cache answers it."""
    return f"# attempt {next(_fresh)}\n{document}"


async def timed(call: Awaitable[T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = await call
    return result, (time.perf_counter() - start) * 1000


async def warm(client: httpx.AsyncClient) -> None:
    """One ordinary request of each kind first: the timings below are the attack's alone."""
    assert (await client.get("/health")).status_code == 200
    warm_up = await client.post("/graphql", json={"query": "{ __typename }"})
    assert warm_up.json() == {"data": {"__typename": "Query"}}


def within_bounds(what: str, timings: list[tuple[float, float]]) -> None:
    """The median of a few attempts, each with a document never seen before: on a loaded
    machine one attempt may be descheduled for tens of ms, while a held event loop holds it
    for every attempt (the bombs took seconds each before the limits were made linear)."""
    answer_ms = statistics.median(answer for answer, _ in timings)
    health_ms = statistics.median(health for _, health in timings)
    assert answer_ms < ANSWER_MS, f"{what}: answered in {answer_ms:.0f} ms ({timings})"
    assert health_ms < HEALTH_MS, f"{what}: /health took {health_ms:.0f} ms ({timings})"


def quiet(service: Service) -> None:
    """A refused document is the client's mistake: no traceback in the service's log."""
    assert "Traceback" not in service.output(), service.output()


def assert_limit_error(body: dict[str, Any]) -> None:
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] in LIMIT_CODES and error["message"], error


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("levels", LEVELS)
async def test_bombs_over_http_are_refused_at_once_and_health_answers_meanwhile(
    services: dict[str, Service], service: str, levels: int
) -> None:
    url = services[service].url
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        await warm(client)
        for shape, document in attacks(service, levels).items():

            async def attempt(document: str = document) -> tuple[float, float]:
                bomb = client.post("/graphql", json={"query": fresh(document)})
                (answer, answer_ms), (health, health_ms) = await asyncio.gather(
                    timed(bomb), timed(client.get("/health"))
                )
                assert answer.status_code == 200, answer.text
                assert_limit_error(answer.json())
                assert health.status_code == 200
                return answer_ms, health_ms

            within_bounds(f"{service} {shape}", [await attempt() for _ in range(ATTEMPTS)])
    quiet(services[service])


@pytest.mark.parametrize("service", SERVICES)
async def test_bombs_over_graphql_transport_ws_are_error_messages_at_once(
    services: dict[str, Service], service: str
) -> None:
    url = services[service].url
    async with (
        httpx.AsyncClient(base_url=url, trust_env=False) as client,
        transport_ws(ws_url(url)) as ws,
    ):
        await warm(client)
        ids = itertools.count()
        for shape, document in attacks(service, 14).items():

            async def attempt(document: str = document) -> tuple[float, float]:
                op_id = f"bomb-{next(ids)}"
                await ws.subscribe(op_id, fresh(document), {})
                (message, answer_ms), (health, health_ms) = await asyncio.gather(
                    timed(ws.receive()), timed(client.get("/health"))
                )
                assert (message["type"], message["id"]) == ("error", op_id), message
                [error] = message["payload"]
                assert error["extensions"]["code"] in LIMIT_CODES, error
                assert health.status_code == 200
                return answer_ms, health_ms

            within_bounds(f"{service} {shape}", [await attempt() for _ in range(ATTEMPTS)])
        await ws.subscribe("after", "{ __typename }", {})  # the socket still serves
        [result] = await ws.until_complete("after")
        assert result == {"data": {"__typename": "Query"}}
    quiet(services[service])


@pytest.mark.parametrize("service", SERVICES)
async def test_documents_slow_to_validate_are_refused_at_once(
    services: dict[str, Service], service: str
) -> None:
    """Within the token, depth, alias and cost limits, but graphql-core's overlapping-fields
    rule is quadratic in the copies of one field: each shape took ~0.1 s of CPU to validate,
    in a thread sharing the GIL with the loop. The overlap limit refuses them first."""
    async with httpx.AsyncClient(base_url=services[service].url, trust_env=False) as client:
        await warm(client)
        for shape, document in repeated_fields(service).items():
            timings = []
            for _ in range(ATTEMPTS):
                (answer, answer_ms), (health, health_ms) = await asyncio.gather(
                    timed(client.post("/graphql", json={"query": fresh(document)})),
                    timed(client.get("/health")),
                )
                assert_limit_error(answer.json())
                assert health.status_code == 200
                timings.append((answer_ms, health_ms))
            within_bounds(f"{service} {shape}", timings)
    quiet(services[service])


@pytest.mark.parametrize("service", SERVICES)
async def test_the_standard_introspection_query_is_answered(
    services: dict[str, Service], service: str
) -> None:
    async with httpx.AsyncClient(base_url=services[service].url, trust_env=False) as client:
        answer = await client.post(
            "/graphql", json={"query": get_introspection_query(descriptions=True)}
        )
    body = answer.json()
    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
