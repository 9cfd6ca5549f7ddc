"""Operations over HTTP POST whose document this service has already parsed and found valid,
executed by graphql-core at once, without strawberry's machinery around each execution.

Clients send the same few documents over and over (the saga's reserve and charge, the shop's
catalog). For each operation strawberry builds an execution context, an instance of every
extension and a context manager per hook, and passes the request through its HTTP view: about as
much work as executing a `reserve` (docs/bench.md, issue 17). Here a document found in the
schema's caches with no errors (`Documents`: it met the limits and graphql-core's rules when it
was new) runs on the same graphql-core schema, with strawberry's own executor class, resolvers
and exception handlers, and its errors coded and logged as `OperationChecks` does.

Anything else returns None and takes strawberry's path, which checks and caches a new document:
a document not seen yet or refused, a subscription, a stream transport, a body of another shape.
So this path only answers what strawberry's would, and as it would.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any, Final, TypeGuard, cast

from graphql import DocumentNode, ExecutionResult, OperationType, execute, get_operation_ast
from strawberry.execution.is_awaitable import optimized_is_awaitable

from services.kernel.graphql.documents import Documents
from services.kernel.graphql.errors import coded, log_errors
from services.kernel.graphql.schema import Schema

# strawberry's faster check (plain values first), typed as graphql-core wants it.
_is_awaitable: Final = cast("Callable[[Any], TypeGuard[Awaitable[Any]]]", optimized_is_awaitable)
# Over HTTP POST, without a stream transport, strawberry runs only these.
_RUNNABLE: Final = (OperationType.QUERY, OperationType.MUTATION)


@dataclass(frozen=True, slots=True)
class PreparedOperation:
    """A request whose document is known good, ready to execute."""

    document: DocumentNode
    variables: dict[str, Any] | None
    operation_name: str | None


def prepared_operation(documents: Documents, body: bytes) -> PreparedOperation | None:
    """The operation a POSTed JSON `body` asks for, or None if it is not a prepared one."""
    request = _request_of(body)
    if request is None:
        return None
    query, variables, operation_name = request
    if documents.verdicts.get(query) != ():  # new, or refused: strawberry answers it
        return None
    document = documents.parsed.get(query)
    if document is None:
        return None
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation not in _RUNNABLE:
        return None
    return PreparedOperation(document, variables, operation_name)


async def execute_prepared(
    schema: Schema, operation: PreparedOperation, context: object
) -> dict[str, Any]:
    """The response body, as strawberry's view would give it for the same operation."""
    result = execute(
        schema._schema,
        operation.document,
        context_value=context,
        variable_values=operation.variables,
        operation_name=operation.operation_name,
        executor_class=schema.execution_context_class,
        is_awaitable=_is_awaitable,
    )
    if isawaitable(result):
        result = await result
    return _response_body(result)


def _request_of(body: bytes) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """The query, variables and operation name of a well-formed request; None for anything
    strawberry's view must judge (and answer with its coded error)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    query = data.get("query")
    variables = data.get("variables")
    operation_name = data.get("operationName")
    if (
        not isinstance(query, str)
        or not isinstance(variables, dict | None)
        or not isinstance(operation_name, str | None)
        or not isinstance(data.get("extensions"), Mapping | None)
    ):
        return None
    return query, variables, operation_name


def _response_body(result: ExecutionResult) -> dict[str, Any]:
    """As strawberry's view shapes it: `data`, and `errors` only when there are some."""
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        log_errors(result.errors)  # before coding: the log keeps what the client is not told
        body["errors"] = [coded(error).formatted for error in result.errors]
    return body
