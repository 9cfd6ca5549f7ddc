"""schemathesis, with all its checks, against the OpenAPI document that each running service
publishes (the real stack of processes): what a schema-driven client sends is accepted, what the
schema forbids is refused, and every answer is one the document describes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest
import schemathesis
from schemathesis import BaseSchema, HookContext
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case

from harness.stack.supervisor import Stack
from services.kernel.contracts import IDENTIFIER_PATTERN, MAX_ID_LENGTH

pytestmark = pytest.mark.e2e

# Bounded: the whole module (four services, about 25 operations, positive and negative cases,
# schemathesis's coverage phase included) stays within a few minutes of a loaded 2-core CI machine.
MAX_EXAMPLES = 25

# Schema-valid requests that the domain still refuses with 422, for reasons no JSON Schema can
# state: a SKU that the catalog (data, not schema) does not know, the same SKU on two lines (JSON
# Schema's uniqueItems compares whole lines), a notification listing that names neither an order
# nor a customer (OpenAPI cannot say "at least one of two parameters"); and, a matter of state, an
# Idempotency-Key that an earlier generated request used with another body. schemathesis accepts a
# 422 on these operations; `refused_for_a_business_reason` then checks that it is one of these.
BUSINESS_422: dict[str, Callable[[Case[Any], dict[str, Any]], bool]] = {
    # A callback URL's host allow-list is configuration, not something a schema can say.
    "POST /orders": lambda case, problem: (
        problem["code"] in ("UNKNOWN_SKU", "IDEMPOTENCY_MISMATCH")
        or problem.get("field") == "callback_url"
        or _repeated_sku(case)
    ),
    "POST /reservations": lambda case, problem: (
        problem["code"] == "UNKNOWN_SKU" or _repeated_sku(case)
    ),
    "GET /notifications": lambda case, problem: not (case.query or {}),
}
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "422"]
# schemathesis escapes a generated path parameter's reserved characters but sends `%` and two hex
# digits as they are, so the server reads another character than the one generated (a CI run saw
# `%10` arrive as 0x10, and a valid id refused). Such values are left out; every other
# identifier is still generated, `%` alone included.
_ESCAPED = re.compile(r"%[0-9A-Fa-f]{2}")


@schemathesis.hook
def filter_path_parameters(context: HookContext, path_parameters: dict[str, Any] | None) -> bool:
    values = (path_parameters or {}).values()
    return not any(isinstance(value, str) and _ESCAPED.search(value) for value in values)


def _repeated_sku(case: Case[Any]) -> bool:
    body = cast("dict[str, Any]", case.body)
    skus = [line["sku"] for line in body["items"]]
    return len(set(skus)) < len(skus)


def validate(case: Case[Any]) -> None:
    response = case.call_and_validate()
    excused = BUSINESS_422.get(case.operation.label)
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if excused and positive and response.status_code == 422:
        assert excused(case, response.json()), f"schema-valid, refused: {response.text}"


def config() -> SchemathesisConfig:
    operations: list[dict[str, Any]] = [
        {
            "include-name": name,
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        }
        for name in BUSINESS_422
    ]
    return SchemathesisConfig.from_dict(
        {
            # No example database in the tree: every run starts from the schema alone.
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "operations": operations,
        }
    )


def load(stack: Stack, service: str) -> BaseSchema:
    url = stack.url(service)
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config())
    schema.config.update(base_url=url)
    return schema


@pytest.fixture(scope="module")
def order_schema(stack: Stack) -> BaseSchema:
    return load(stack, "order")


@pytest.fixture(scope="module")
def inventory_schema(stack: Stack) -> BaseSchema:
    return load(stack, "inventory")


@pytest.fixture(scope="module")
def payment_schema(stack: Stack) -> BaseSchema:
    return load(stack, "payment")


@pytest.fixture(scope="module")
def notification_schema(stack: Stack) -> BaseSchema:
    return load(stack, "notification")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy schemas read `Item._nodeid`, which pytest 9.2 no longer sets.
    request.node._nodeid = request.node.nodeid


order = schemathesis.pytest.from_fixture("order_schema")
inventory = schemathesis.pytest.from_fixture("inventory_schema")
payment = schemathesis.pytest.from_fixture("payment_schema")
notification = schemathesis.pytest.from_fixture("notification_schema")


@order.parametrize()
def test_order_service_conforms_to_its_openapi_document(case: Case[Any]) -> None:
    validate(case)


@inventory.parametrize()
def test_inventory_service_conforms_to_its_openapi_document(case: Case[Any]) -> None:
    validate(case)


@payment.parametrize()
def test_payment_service_conforms_to_its_openapi_document(case: Case[Any]) -> None:
    validate(case)


@notification.parametrize()
def test_notification_service_conforms_to_its_openapi_document(case: Case[Any]) -> None:
    validate(case)


IDENTIFIERS = {"order_id", "customer_id", "sku"}


def identifier_schemas(node: Any) -> list[dict[str, Any]]:
    """The schemas of every parameter and property named like an identifier, anywhere."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("name") in IDENTIFIERS and "schema" in node:  # a parameter
            found.append(node["schema"])
        for name, schema in (node.get("properties") or {}).items():
            if name in IDENTIFIERS:
                found.append(schema)
        for value in node.values():
            found += identifier_schemas(value)
    elif isinstance(node, list):
        for value in node:
            found += identifier_schemas(value)
    return found


@pytest.mark.parametrize("service", ["order", "inventory", "payment", "notification"])
def test_every_identifier_in_the_documents_states_the_domain_rule(
    stack: Stack, service: str
) -> None:
    document = httpx.get(f"{stack.url(service)}/openapi.json").json()
    schemas = identifier_schemas(document)
    assert schemas, "no identifier in the document"
    for schema in schemas:
        assert schema.get("pattern") == IDENTIFIER_PATTERN, schema
        assert (schema.get("minLength"), schema.get("maxLength")) == (1, MAX_ID_LENGTH), schema
