"""Limits on what one GraphQL document may ask for, the same on every service.

The body size limit (middleware) bounds the bytes and the parser's token limit bounds the
document; the checks here bound the work the document can cause within them: how deep its
selections go, how many aliases it uses and its cost, the number of fields the operation would
resolve with each list counted by its bound, and (overlap.py) the work of comparing the fields
that answer under the same name.

Every check is linear in the document's size: each fragment is measured once, and a spread
reuses that measurement. (strawberry's limiters expand a fragment at every spread, so a few
hundred bytes of fragments spreading fragments took seconds.) A fragment that spreads itself,
directly or not, counts nothing here; graphql-core's NoFragmentCyclesRule refuses it.

The deepest legitimate selection in any schema here is five fields
(`placeOrder { ... on UnknownSku { order { items { product { name } } } } }`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from services.kernel.graphql.introspection import introspection_list_bounds
from services.kernel.graphql.overlap import MAX_OVERLAP, within_overlap_limit

MAX_DEPTH: Final = 6
MAX_TOKENS: Final = 1000
MAX_ALIASES: Final = 15
# Fits the standard introspection query (GraphiQL's) and listing a customer's orders with
# their lines and products; a document that could make the service resolve more is refused.
MAX_COST: Final = 50_000
# A list field no service gave a bound (the catalog, for one) counts as this many items.
DEFAULT_LIST_BOUND: Final = 100

TOO_DEEP: Final = "QUERY_TOO_DEEP"
TOO_LARGE: Final = "QUERY_TOO_LARGE"
_TOKENS_MESSAGE: Final = "Document contains more than"  # graphql-core's parser says so


@dataclass(frozen=True, slots=True)
class Size:
    """What a selection set costs: its deepest chain of fields (introspection fields do not
    count), its aliases and the fields it would resolve. Sums saturate just over the limits."""

    levels: int = 0
    aliases: int = 0
    cost: int = 0

    def __add__(self, other: Size) -> Size:
        return Size(
            max(self.levels, other.levels),
            min(self.aliases + other.aliases, MAX_ALIASES + 1),
            min(self.cost + other.cost, MAX_COST + 1),
        )


_NOTHING: Final = Size()


class OperationLimits:
    """The limits' check for one schema. `list_bounds` maps `Type.field` coordinates to the
    most items that list field can hold (introspection's lists are bounded from the schema)."""

    def __init__(self, schema: GraphQLSchema, list_bounds: Mapping[str, int]) -> None:
        self.schema = schema
        self.list_bounds = {**introspection_list_bounds(schema), **list_bounds}

    def check(self, document: DocumentNode) -> list[GraphQLError]:
        measure = _Measure(self, document)
        errors: list[GraphQLError] = []
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                errors.extend(_errors_of(definition, measure.operation(definition)))
        if not errors and not within_overlap_limit(document):
            message = (
                f"the document repeats fields or fragments too often to be validated (more than"
                f" {MAX_OVERLAP} units of work comparing fields of one name)"
            )
            errors.append(GraphQLError(message, extensions={"code": TOO_LARGE}))
        return errors

    def bound(self, parent: GraphQLNamedType, field: str) -> int:
        return self.list_bounds.get(f"{parent.name}.{field}", DEFAULT_LIST_BOUND)


class _Measure:
    """One document's measurement; each fragment's size is computed once."""

    def __init__(self, limits: OperationLimits, document: DocumentNode) -> None:
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.sizes: dict[str, Size | None] = {}  # None: being measured (a cycle if met again)

    def operation(self, operation: OperationDefinitionNode) -> Size:
        root = self.limits.schema.get_root_type(operation.operation)
        return self.selections(operation.selection_set, root)

    def selections(self, node: SelectionSetNode, parent: GraphQLNamedType | None) -> Size:
        total = _NOTHING
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> Size:
        if name in self.sizes:
            return self.sizes[name] or _NOTHING  # measured, or a cycle (refused elsewhere)
        definition = self.fragments.get(name)
        if definition is None:  # unknown: KnownFragmentNamesRule refuses it
            return _NOTHING
        self.sizes[name] = None
        size = self.selections(
            definition.selection_set, self._type(definition.type_condition.name.value)
        )
        self.sizes[name] = size
        return size

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> Size:
        name = node.name.value
        output = _field_type(self.limits.schema, parent, name)
        items, named = 1, output
        while isinstance(named, GraphQLNonNull | GraphQLList):
            if isinstance(named, GraphQLList) and parent is not None:
                items *= self.limits.bound(parent, name)
            named = named.of_type
        inner = self.selections(node.selection_set, named) if node.selection_set else _NOTHING
        # Introspection is exempt from the depth limit (its standard query nests ofType
        # eight deep); its cost still counts.
        levels = 0 if name.startswith("__") else 1 + inner.levels
        return Size(
            levels,
            min(inner.aliases + (1 if node.alias else 0), MAX_ALIASES + 1),
            min(1 + items * inner.cost, MAX_COST + 1),
        )

    def _type(self, name: str) -> GraphQLNamedType | None:
        return self.limits.schema.get_type(name)


def _field_type(
    schema: GraphQLSchema, parent: GraphQLNamedType | None, name: str
) -> GraphQLOutputType | None:
    if name == "__schema" and parent is schema.query_type:
        return SchemaMetaFieldDef.type
    if name == "__type" and parent is schema.query_type:
        return TypeMetaFieldDef.type
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) and name in parent.fields:
        found: GraphQLOutputType = parent.fields[name].type
        return found
    return None  # __typename, or a field the schema lacks (FieldsOnCorrectTypeRule refuses it)


def _errors_of(operation: OperationDefinitionNode, size: Size) -> list[GraphQLError]:
    depth = size.levels - 1  # the top field counts 0
    name = f"'{operation.name.value}'" if operation.name else "the operation"
    found = [
        (depth > MAX_DEPTH, TOO_DEEP, f"{name} exceeds maximum operation depth of {MAX_DEPTH}"),
        (size.aliases > MAX_ALIASES, TOO_LARGE, f"{name} has more than {MAX_ALIASES} aliases"),
        (
            size.cost > MAX_COST,
            TOO_LARGE,
            f"{name} could resolve more than {MAX_COST} fields (lists counted by their bound)",
        ),
    ]
    return [
        GraphQLError(message, operation, extensions={"code": code})
        for over, code, message in found
        if over
    ]


def limit_code(message: str) -> str | None:
    """The code of the parser's token limit (its error is a syntax error otherwise)."""
    return TOO_LARGE if _TOKENS_MESSAGE in message else None
