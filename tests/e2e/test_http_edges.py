"""The HTTP edges of every service process, over real sockets: `Allow` on a 405, one error code
for a body that is not JSON, and the limits on a request's head with the production settings."""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import httpx
import pytest

from harness.stack.supervisor import Stack
from services.kernel.serve import HEAD_LIMITS

pytestmark = pytest.mark.e2e

SERVICES = ["order", "inventory", "payment", "notification"]


# RFC 9110's methods that a route may serve; no path of any service serves PUT.
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# Served but not in the OpenAPI documents.
UNDOCUMENTED = ("/metrics", "/openapi.json", "/docs", "/graphql")


@pytest.mark.parametrize("service", SERVICES)
def test_every_405_allows_exactly_the_methods_that_the_path_serves(
    stack: Stack, service: str
) -> None:
    url = stack.url(service)
    documented: dict[str, dict[str, Any]] = httpx.get(f"{url}/openapi.json").json()["paths"]
    for template in [*documented, *UNDOCUMENTED]:
        path = re.sub(r"\{[^}]+\}", "x-1", template)
        answers = {method: httpx.request(method, f"{url}{path}") for method in METHODS}
        if all(answer.status_code == 404 for answer in answers.values()):
            continue  # /graphql on notification, which has no GraphQL
        served = {method for method, answer in answers.items() if answer.status_code != 405}
        assert {method.upper() for method in documented.get(template, {})} <= served
        assert answers["PUT"].status_code == 405, (service, path)
        for method, answer in answers.items():
            if answer.status_code == 405:
                allowed = {name.strip() for name in answer.headers["Allow"].split(",")}
                assert allowed == served, (service, path, method)


@pytest.mark.parametrize(
    ("service", "path", "methods"),
    [
        ("order", "/orders", {"GET", "POST"}),
        ("order", "/graphql", {"GET", "POST"}),
        ("notification", "/notifications", {"GET", "POST"}),
    ],
)
def test_the_reported_paths_allow_both_their_methods(
    stack: Stack, service: str, path: str, methods: set[str]
) -> None:
    answer = httpx.options(f"{stack.url(service)}{path}")
    assert answer.status_code == 405
    assert {name.strip() for name in answer.headers["Allow"].split(",")} == methods


JSON_ENDPOINTS = [
    ("order", "/orders"),
    ("inventory", "/reservations"),
    ("payment", "/charges"),
    ("notification", "/notifications"),
]
NOT_JSON = {
    "a 5,000-digit number": b'{"amount_cents": ' + b"9" * 5000 + b"}",
    "nesting 30,000 deep": b"[" * 30_000 + b"]" * 30_000,
    "invalid UTF-8": b'{"order_id": "\xff\xfe"}',
    "a syntax error": b'{"order_id": ',
}


@pytest.mark.parametrize(("service", "path"), JSON_ENDPOINTS)
@pytest.mark.parametrize("shape", list(NOT_JSON))
def test_a_body_that_is_not_json_is_malformed_json(
    stack: Stack, service: str, path: str, shape: str
) -> None:
    answer = httpx.post(
        f"{stack.url(service)}{path}",
        content=NOT_JSON[shape],
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "MALFORMED_JSON"


@pytest.mark.parametrize("service", ["order", "inventory", "payment"])
@pytest.mark.parametrize("shape", list(NOT_JSON))
def test_graphql_answers_a_body_that_is_not_json_with_its_400(
    stack: Stack, service: str, shape: str
) -> None:
    answer = httpx.post(
        f"{stack.url(service)}/graphql",
        content=NOT_JSON[shape],
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400  # GraphQL over HTTP's own error shape (docs/protocols.md)
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def head_answer(url: str, head: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        try:
            connection.sendall(head)
            return b"".join(iter(lambda: connection.recv(65536), b""))
        except ConnectionError:
            return b""  # reset while sending: the service stopped reading at the limit


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    "fields",
    [[f"X-Big: {'a' * 1_000_000}"], [f"X-Field-{i}: v" for i in range(1000)]],
    ids=["one-1MB-header", "1000-headers"],
)
def test_a_service_refuses_an_oversized_head_with_431(
    stack: Stack, service: str, fields: list[str]
) -> None:
    head = "\r\n".join(["GET /health HTTP/1.1", "Host: t", *fields]) + "\r\n\r\n"
    answer = head_answer(stack.url(service), head.encode())
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
    assert answer or len(head) > 100_000  # only a head too big to finish sending may be reset


def test_a_service_closes_a_connection_that_sends_nothing_within_the_head_timeout(
    stack: Stack,
) -> None:
    started = time.monotonic()
    assert head_answer(stack.url("payment"), b"") == b""
    assert time.monotonic() - started < HEAD_LIMITS.header_timeout_s + 10
