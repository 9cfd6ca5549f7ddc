"""The GraphQL document limits and caches, on the services' real schemas, without a server:
what each limit counts, that each fragment is measured once, that cycles are safe, and that
the documents the project's own clients and GraphiQL send stay within the limits."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    OperationDefinitionNode,
    get_introspection_query,
    parse,
)
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from harness.clients.documents import ORDER_UPDATES, ORDERS_WITH_PRODUCTS, PLACE_ORDER
from services.inventory.api.graphql import create_schema as inventory_schema
from services.kernel.graphql import limits, overlap
from services.kernel.graphql.documents import Documents, Lru
from services.kernel.graphql.limits import (
    DEFAULT_LIST_BOUND,
    MAX_ALIASES,
    MAX_COST,
    MAX_DEPTH,
    OperationLimits,
    Size,
)
from services.kernel.graphql.schema import Schema
from services.order.api.graphql import create_schema as order_schema
from services.order.downstream import graphql as downstream
from services.payment.api.graphql import create_schema as payment_schema
from tests.unit.graphql_attacks import TARGETS, attacks, repeated_fields, spread_fan_out

ORDER = order_schema()


def sizes(schema: Schema, document: str) -> list[Size]:
    parsed = parse(document)
    measure = limits._Measure(schema.documents.limits, parsed)
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    return [measure.operation(operation) for operation in operations]


def code(error: GraphQLError) -> str:
    return str((error.extensions or {}).get("code"))


def codes(schema: Schema, document: str) -> list[str]:
    return [code(e) for e in schema.documents.limits.check(parse(document))]


def test_cost_counts_fields_with_lists_by_their_bound() -> None:
    # orders: at most 100 (the handler's cap); items: at most 50 lines; products: the default.
    [size] = sizes(ORDER, '{ orders(customerId: "c") { id items { sku quantity } } }')
    assert size == Size(levels=3, aliases=0, cost=1 + 100 * (1 + 1 + 50 * 2))
    [catalog] = sizes(ORDER, "{ products { sku name } }")
    assert catalog.cost == 1 + DEFAULT_LIST_BOUND * 2
    [one] = sizes(ORDER, '{ order(id: "x") { id } a: order(id: "y") { id } }')
    assert (one.cost, one.aliases) == (4, 1)


def test_introspection_lists_are_bounded_by_the_schema() -> None:
    bounds = ORDER.documents.limits.list_bounds
    assert bounds["__Schema.types"] == len(ORDER._schema.type_map)
    composite = [
        t
        for t in ORDER._schema.type_map.values()
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
    ]
    assert bounds["__Type.fields"] == max(len(t.fields) for t in composite)


def test_each_fragment_is_measured_once_and_its_size_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    measured: list[str] = []
    selections = limits._Measure.selections

    def counting(self: Any, node: Any, parent: Any) -> Size:
        measured.append(getattr(parent, "name", "?"))
        return selections(self, node, parent)

    monkeypatch.setattr(limits._Measure, "selections", counting)
    # 4**200 fields once expanded: only a linear check ever finishes this.
    [size] = sizes(ORDER, spread_fan_out(TARGETS["order"], 200))
    assert size.cost == MAX_COST + 1  # saturated, not a 400-digit number
    assert len(measured) == 1 + 1 + 201  # the operation, `products`, each fragment once


SCHEMAS = {"order": ORDER, "inventory": inventory_schema(), "payment": payment_schema()}


@pytest.mark.parametrize("service", SCHEMAS)
@pytest.mark.parametrize("levels", [8, 11, 14])
def test_every_shape_of_fragment_bomb_is_over_a_limit(service: str, levels: int) -> None:
    for shape, document in attacks(service, levels).items():
        expected = "QUERY_TOO_DEEP" if shape == "deep nesting" else "QUERY_TOO_LARGE"
        assert codes(SCHEMAS[service], document) == [expected], shape


@pytest.mark.parametrize("service", SCHEMAS)
def test_every_shape_of_repeated_fields_is_over_the_overlap_limit(service: str) -> None:
    for shape, document in repeated_fields(service).items():
        assert codes(SCHEMAS[service], document) == ["QUERY_TOO_LARGE"], shape


def test_the_overlap_walk_stops_at_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    spent: list[int] = []
    spend = overlap._Walk._spend

    def counting(self: Any, units: int) -> None:
        spent.append(units)
        spend(self, units)

    monkeypatch.setattr(overlap._Walk, "_spend", counting)
    document = parse("{ " + "__typename " * 900 + "}")
    assert not overlap.within_overlap_limit(document, limit=100)
    assert len(spent) == 101  # one unit per selection met, until the 101st passes the limit
    # 4 selections, then a, b once and c twice: 1 + 1 + 2 * 2; c's two d's: 2, then 2 * 2
    small = parse("{ a b c { d } c { d } }")
    assert overlap.within_overlap_limit(small, limit=4 + 6 + 2 + 4)
    assert not overlap.within_overlap_limit(small, limit=4 + 6 + 2 + 4 - 1)


def test_aliases_in_fragments_count_at_each_spread() -> None:
    aliased = " ".join(f"a{i}: sku" for i in range(4))
    document = (
        "{ products { ...A ...A ...A ...A } } "  # 4 spreads of 4 aliases: 16
        f"fragment A on Product {{ {aliased} }}"
    )
    assert MAX_ALIASES < 4 * 4
    assert codes(ORDER, document) == ["QUERY_TOO_LARGE"]
    assert codes(ORDER, "{ products { ...A } } " + f"fragment A on Product {{ {aliased} }}") == []


def test_depth_counts_fields_through_fragments_but_not_introspection() -> None:
    chain = '{ orders(customerId: "c") { items { product { sku { a { b { c { d } } } } } } } }'
    assert sizes(ORDER, chain)[0].levels - 1 == MAX_DEPTH + 1
    assert codes(ORDER, chain) == ["QUERY_TOO_DEEP"]
    through = (
        '{ orders(customerId: "c") { ...O } } fragment O on Order { items { ...L } } '
        "fragment L on OrderLine { product { sku { a { b { c { d } } } } } }"
    )
    assert codes(ORDER, through) == ["QUERY_TOO_DEEP"]
    nested_of_type = "{ __schema { types { " + "ofType { " * 20 + "name" + " }" * 20 + " } } }"
    assert codes(ORDER, nested_of_type) == []


@pytest.mark.parametrize(
    "document",
    [
        "{ products { ...A } } fragment A on Product { sku ...A }",
        "{ products { ...A } } fragment A on Product { ...B } fragment B on Product { ...A }",
        "{ products { ...Missing } }",
        "{ nope { deeper { ...A } } } fragment A on Nope { x }",
    ],
)
def test_cycles_and_unknown_names_end_and_are_left_to_graphql_cores_rules(document: str) -> None:
    assert codes(ORDER, document) == []  # what graphql-core's own rules then refuse


async def test_a_cycle_is_refused_by_validation() -> None:
    errors = await ORDER.documents.validate(
        parse("{ products { ...A } } fragment A on Product { ...B } fragment B on Product { ...A }")
    )
    assert [error.message for error in errors] == [
        "Cannot spread fragment 'A' within itself via 'B'."
    ]


@pytest.mark.parametrize(
    "document",
    [
        PLACE_ORDER,
        ORDERS_WITH_PRODUCTS,
        ORDER_UPDATES,
        get_introspection_query(descriptions=True),
    ],
)
async def test_the_project_clients_and_graphiqls_documents_pass_validation(document: str) -> None:
    assert await ORDER.documents.validate(parse(document)) == []


@pytest.mark.parametrize(
    ("schema", "documents"),
    [
        (SCHEMAS["inventory"], [downstream.RESERVE, downstream.RELEASE, downstream.PRODUCTS]),
        (SCHEMAS["payment"], [downstream.CHARGE, downstream.REFUND]),
    ],
    ids=["inventory", "payment"],
)
async def test_the_order_services_calls_and_introspection_pass_validation(
    schema: Schema, documents: list[str]
) -> None:
    for document in [*documents, get_introspection_query(descriptions=True)]:
        assert await schema.documents.validate(parse(document)) == []


def test_the_list_bound_of_a_service_overrides_the_default() -> None:
    schema, query = ORDER._schema, ORDER._schema.query_type
    assert query is not None
    assert OperationLimits(schema, {"Query.products": 3}).bound(query, "products") == 3
    assert OperationLimits(schema, {}).bound(query, "products") == DEFAULT_LIST_BOUND


def test_the_lru_forgets_the_least_recently_used() -> None:
    lru: Lru[str, int] = Lru(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1
    lru.put("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c"), len(lru)) == (1, None, 3, 2)


async def test_parses_and_verdicts_are_cached_and_syntax_errors_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = payment_schema()
    validated: list[object] = []
    check = Documents.validate

    async def counting(self: Documents, document: Any) -> Any:
        validated.append(document)
        return await check(self, document)

    monkeypatch.setattr(Documents, "validate", counting)
    query = "{ __typename }"
    for _ in range(3):
        assert (await schema.execute(query)).errors is None
    assert len(validated) == 1 and schema.documents.parsed.get(query) is validated[0]

    broken = "{ payment(orderId: "
    for _ in range(2):
        [error] = (await schema.execute(broken)).errors or []
        assert error.extensions == {"code": "GRAPHQL_PARSE_FAILED"}
    assert schema.documents.parsed.get(broken) is None
    invalid = "{ payment { nope } }"
    for _ in range(2):
        errors = (await schema.execute(invalid)).errors or []
        assert {code(e) for e in errors} == {"GRAPHQL_VALIDATION_FAILED"}
    assert len(validated) == 2  # the invalid document's verdict is kept too


async def test_an_operation_of_a_type_not_allowed_is_refused_valid_or_not() -> None:
    """Over HTTP only queries and mutations run: a subscription is refused for its type, as
    before the verdict moved into the parse hook, whether the document is valid or not."""
    http = (OperationType.QUERY, OperationType.MUTATION)
    for document in (ORDER_UPDATES, "subscription { orderUpdates(orderId: 1) { nope } }"):
        with pytest.raises(InvalidOperationTypeError):
            await ORDER.execute(document, {"id": "x"}, allowed_operation_types=http)
    over_limit = "subscription { " + " ".join(f"a{i}: __typename" for i in range(20)) + " }"
    with pytest.raises(InvalidOperationTypeError):
        await ORDER.execute(over_limit, allowed_operation_types=http)
