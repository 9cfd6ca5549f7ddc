"""The GraphQL edge's error map, the part every service shares.

Expected failures are typed members of a result union (`InvalidInput`, and each service's own),
produced from domain errors by strawberry exception handlers, so a resolver only parses, calls
one handler and maps its result. Everything else leaves as an entry of `errors` with a stable
`extensions.code`: the request's own mistakes say what is wrong; an unexpected exception is
logged and masked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import StreamExecutionResult
from strawberry.utils.str_converters import to_camel_case

from services.kernel.errors import DomainError, DownstreamUnavailable, InvalidRequest, Overloaded
from services.kernel.graphql.limits import limit_code

log = logging.getLogger(__name__)
INTERNAL = "an unexpected error occurred; see the service log"


@strawberry.interface(description="An expected refusal: a stable code and a human message.")
class Problem:
    code: str
    message: str


@strawberry.type(description="The request broke a rule of the domain (a limit, a format).")
class InvalidInput(Problem):
    field: str | None = strawberry.field(description="The offending field, when one is to blame.")

    @classmethod
    def of(cls, error: InvalidRequest) -> InvalidInput:
        field = error.details.get("field")
        path = client_path(str(field)) if field else None
        return cls(code=error.code, message=error.message, field=path)


def client_path(field: str) -> str:
    """The domain's path to a field (`payment_token`, `items[0].unit_price`) as a GraphQL client
    wrote it: strawberry names every input field in camelCase."""
    return ".".join(to_camel_case(part) for part in field.split("."))


class InvalidInputHandler(strawberry.ExceptionHandler[InvalidRequest, InvalidInput]):
    """InvalidRequest → the `InvalidInput` member of any result union that has one."""

    def handle(self, exception: InvalidRequest, **_: Any) -> InvalidInput:
        return InvalidInput.of(exception)


def code_of(error: GraphQLError) -> str:
    """The `extensions.code` of an error that no union member took."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):  # the document or its variables
        limit = limit_code(error.message)
        if limit:
            return limit
        if isinstance(error, GraphQLSyntaxError):
            return "GRAPHQL_PARSE_FAILED"
        return "GRAPHQL_VALIDATION_FAILED"
    if isinstance(original, DomainError):
        return original.code
    if isinstance(original, DownstreamUnavailable):
        return "DOWNSTREAM_UNAVAILABLE"
    return "INTERNAL_ERROR"


def coded(error: GraphQLError) -> GraphQLError:
    if error.extensions and "code" in error.extensions:
        return error
    code = code_of(error)
    message = INTERNAL if code == "INTERNAL_ERROR" else error.message
    # "Not now" says how long to wait and why, as every other style's answer does.
    original = error.original_error
    details = original.details if isinstance(original, Overloaded) else {}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), **details, "code": code},
    )


def log_errors(errors: list[GraphQLError]) -> None:
    """Unexpected exceptions with their traceback; the client's own mistakes stay quiet."""
    for error in errors:
        original = error.original_error
        if isinstance(original, DownstreamUnavailable):
            log.warning("graphql: %s", original)
        elif original is not None and not isinstance(original, (DomainError, GraphQLError)):
            log.error("graphql: unexpected error at %s", error.path, exc_info=original)


class ErrorCodes(SchemaExtension):
    """Gives every error an `extensions.code` (and masks unexpected ones), for single results
    (HTTP) and each result of a stream (subscriptions over graphql-transport-ws)."""

    def __init__(self) -> None:
        self._streamed = False

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        yield
        if not self._streamed:
            _recode(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._streamed = True
        _recode(result)
        yield None


def _recode(result: object) -> None:
    errors = getattr(result, "errors", None)
    if errors:
        result.errors = [coded(error) for error in errors]  # type: ignore[attr-defined]
