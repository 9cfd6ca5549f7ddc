"""The bounds of introspection's lists, read from the schema itself: `__Schema.types` holds
every type of it, `__Type.fields` at most the fields of its largest type, and so on. The query
cost limit counts these lists by them, so the standard introspection query costs what it
really resolves, and a fragment bomb through `fields { type { ofType ... } }` is refused."""

from __future__ import annotations

from collections.abc import Iterable, Sized

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
)


def introspection_list_bounds(schema: GraphQLSchema) -> dict[str, int]:
    types = list(schema.type_map.values())
    composite = [t for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    fields = [field for t in composite for field in t.fields.values()]
    return {
        "__Schema.types": len(types),
        "__Schema.directives": len(schema.directives),
        "__Type.fields": _largest(t.fields for t in composite),
        "__Type.interfaces": _largest(t.interfaces for t in composite),
        "__Type.possibleTypes": _largest(
            schema.get_possible_types(t)
            for t in types
            if isinstance(t, GraphQLUnionType | GraphQLInterfaceType)
        ),
        "__Type.enumValues": _largest(t.values for t in types if isinstance(t, GraphQLEnumType)),
        "__Type.inputFields": _largest(
            t.fields for t in types if isinstance(t, GraphQLInputObjectType)
        ),
        "__Field.args": _largest(field.args for field in fields),
        "__Directive.args": _largest(directive.args for directive in schema.directives),
        "__Directive.locations": _largest(d.locations for d in schema.directives),
    }


def _largest(collections: Iterable[Sized]) -> int:
    return max((len(c) for c in collections), default=0)
