"""The gRPC edge's one error map: domain error kinds to status codes, details to metadata.

A status code alone cannot say which rule refused a request, so the error's stable `code` and its
scalar details travel as trailing metadata (`orderflow-code`, `orderflow-order-id`, ...), the
way REST puts them in the problem+json body.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

import grpc

from services.kernel import correlation
from services.kernel.errors import (
    Conflict,
    DomainError,
    DownstreamUnavailable,
    InvalidRequest,
    NotFound,
    Overloaded,
    Rejected,
)

CORRELATION_KEY: Final = correlation.HEADER.lower()
CODE_KEY: Final = "orderflow-code"
DETAIL_PREFIX: Final = "orderflow-"

_STATUS_BY_KIND: Final[tuple[tuple[type[Exception], grpc.StatusCode], ...]] = (
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Conflict, grpc.StatusCode.FAILED_PRECONDITION),
    (Rejected, grpc.StatusCode.FAILED_PRECONDITION),
    # As gRPC's own servers answer a call beyond their limits (a message too large, too many
    # concurrent calls): the client may retry later, nothing was done.
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (DomainError, grpc.StatusCode.FAILED_PRECONDITION),
    (DownstreamUnavailable, grpc.StatusCode.UNAVAILABLE),
    (TimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),
)
MAPPED: Final = tuple(kind for kind, _ in _STATUS_BY_KIND)

Metadata = tuple[tuple[str, str], ...]


def status_for(error: Exception) -> grpc.StatusCode:
    for kind, status in _STATUS_BY_KIND:
        if isinstance(error, kind):
            return status
    return grpc.StatusCode.INTERNAL


def code_of(error: Exception) -> str:
    if isinstance(error, DomainError):
        return error.code
    if isinstance(error, DownstreamUnavailable):
        return "DOWNSTREAM_UNAVAILABLE"
    return "DEADLINE_EXCEEDED" if isinstance(error, TimeoutError) else "INTERNAL_ERROR"


async def abort_for(context: grpc.aio.ServicerContext[Any, Any], error: Exception) -> NoReturn:
    details = error.details if isinstance(error, DomainError) else {}
    message = error.message if isinstance(error, DomainError) else str(error)
    await abort(context, status_for(error), code_of(error), message, **details)


async def abort(
    context: grpc.aio.ServicerContext[Any, Any],
    status: grpc.StatusCode,
    code: str,
    message: str,
    **details: object,
) -> NoReturn:
    """End the call with `status`; `code` and the details go in the trailing metadata."""
    await context.abort(status, message, trailing_metadata=trailing(code, details))


def trailing(code: str | None = None, details: dict[str, object] | None = None) -> Metadata:
    pairs = [(CODE_KEY, code)] if code else []
    for key, value in (details or {}).items():
        if isinstance(value, str | int) and not isinstance(value, bool):
            pairs.append((DETAIL_PREFIX + key.replace("_", "-").lower(), str(value)))
    if current := correlation.current():
        pairs.append((CORRELATION_KEY, current))
    # Metadata values are printable ASCII; anything else (a client's odd SKU) is left out.
    return tuple((k, v) for k, v in pairs if v.isascii() and v.isprintable())
