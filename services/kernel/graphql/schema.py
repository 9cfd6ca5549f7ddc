"""Builds a service's strawberry schema with what every schema here has: the limits, the error
codes, quiet logging of the client's own mistakes, and a stable SDL for the checked-in file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.printer import print_schema
from strawberry.types.execution import ExecutionContext

from services.kernel.graphql.documents import CheckedDocuments, Documents
from services.kernel.graphql.errors import ErrorCodes, InvalidInputHandler, log_errors
from services.kernel.graphql.limits import MAX_TOKENS


class Schema(strawberry.Schema):
    documents: Documents  # set by build_schema, once the GraphQL schema exists

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # strawberry logs every error with a traceback; a malformed query is not an incident.
        log_errors(errors)


class OperationChecks(CheckedDocuments, ErrorCodes):
    """CheckedDocuments and ErrorCodes as one extension. For every operation strawberry makes a
    new instance of each extension and, for each of its hooks, inspects, wraps and enters a
    context manager: one extension with the hooks of both costs fewer of those per call."""

    def __init__(self) -> None:
        super().__init__()
        ErrorCodes.__init__(self)

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = MAX_TOKENS
        yield from ErrorCodes.on_operation(self)


def build_schema(
    *,
    query: type,
    mutation: type | None = None,
    subscription: type | None = None,
    exception_handlers: Sequence[strawberry.ExceptionHandler[Any, Any]] = (),
    list_bounds: Mapping[str, int] = {},
) -> Schema:
    """`exception_handlers` is the service's part of the error map: domain errors that become
    union members (InvalidRequest → InvalidInput is everyone's). `list_bounds` gives the most
    items a list field (`Type.field`, GraphQL names) can hold, for the query cost limit."""
    schema = Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        extensions=[OperationChecks],
        exception_handlers=[InvalidInputHandler(), *exception_handlers],
    )
    schema.documents = Documents(schema._schema, list_bounds)
    return schema


def sdl(schema: strawberry.Schema) -> str:
    """The schema as SDL, ending with a newline (the form of the checked-in file)."""
    return print_schema(schema) + "\n"
