"""Error kinds that every domain raises and every protocol edge maps (standard library only).

Each service's domain subclasses these with its own codes; each protocol keeps one explicit map from
these kinds to its own error vocabulary (problem+json status, gRPC code, ...).
"""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the request. `code` is stable and machine-readable."""

    code = "DOMAIN_ERROR"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(DomainError):
    code = "INVALID_REQUEST"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Conflict(DomainError):
    """The request contradicts what already happened (e.g. an idempotency key reused)."""

    code = "CONFLICT"


class Rejected(DomainError):
    """A well-formed request that the business cannot honour (out of stock, card declined)."""

    code = "REJECTED"


class Overloaded(DomainError):
    """This process already holds as many of something as it may (sagas, watchers): refused
    before anything was done, so the same request succeeds once some have ended. Each edge
    says so in its own words (REST: 503 with Retry-After; gRPC: RESOURCE_EXHAUSTED), and every
    edge carries `retry_after_s` among the details, as it carries the others."""

    code = "OVERLOADED"
    retry_after_s = 1  # what a client is asked to wait before it tries again

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message, **{"retry_after_s": self.retry_after_s, **details})


class DownstreamUnavailable(Exception):
    """A downstream call failed in transport: refused, timed out, or answered 5xx.

    The outcome is unknown, so the caller must treat the effect as possibly applied.
    """

    def __init__(self, service: str, operation: str, cause: str) -> None:
        super().__init__(f"{service}.{operation} failed: {cause}")
        self.service = service
        self.operation = operation
        self.cause = cause


class NotSent(DownstreamUnavailable):
    """Refused on this side before the call left (an open breaker, a full bulkhead).

    Unlike its parent, the outcome is known: the other side never saw this call. It says nothing
    of earlier calls for the same thing; the caller must know whether there were any.
    """
