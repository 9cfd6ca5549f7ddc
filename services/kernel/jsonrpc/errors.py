"""JSON-RPC error objects and the WebSocket edge's one error map.

Standard codes say what was wrong with the message; the application codes (-32000..-32099) say
which kind of domain refusal it was. Either way `data.code` carries the stable, machine-readable
code (a DomainError's `code`, or one of the protocol codes below) so a client never has to parse
`message`.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from services.kernel.errors import (
    Conflict,
    DomainError,
    DownstreamUnavailable,
    InvalidRequest,
    NotFound,
    Overloaded,
    Rejected,
)

log = logging.getLogger(__name__)

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
# Application codes, in the range JSON-RPC reserves for implementation-defined server errors.
NOT_FOUND: Final = -32001
CONFLICT: Final = -32002
REJECTED: Final = -32003
DOWNSTREAM_UNAVAILABLE: Final = -32004
OVERLOADED: Final = -32005  # nothing was done; the same call succeeds later (`data.retry_after_s`)

# Codes whose outcome the caller cannot know: the server failed, not the request.
SERVER_FAILURES: Final = frozenset({INTERNAL_ERROR, DOWNSTREAM_UNAVAILABLE})

_CODE_BY_KIND: Final[tuple[tuple[type[DomainError], int], ...]] = (
    (InvalidRequest, INVALID_PARAMS),
    (NotFound, NOT_FOUND),
    (Conflict, CONFLICT),
    (Rejected, REJECTED),
    (Overloaded, OVERLOADED),
)
# A SKU the catalog does not know is the caller's input error (REST: 422), not a refusal.
_CODE_BY_DOMAIN_CODE: Final = {"UNKNOWN_SKU": INVALID_PARAMS}


class RpcError(Exception):
    """An error object, ready to be sent (server side) or as received (client side)."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data or {}

    @property
    def reason(self) -> str:
        """The stable code in `data.code` ("" when the peer sent none)."""
        return str(self.data.get("code", ""))

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


def invalid_params(message: str, **data: Any) -> RpcError:
    """Input of the wrong shape or type: the same `data.code` the domain uses for bad input."""
    return RpcError(INVALID_PARAMS, message, {"code": InvalidRequest.code, **data})


def code_for(error: DomainError) -> int:
    if error.code in _CODE_BY_DOMAIN_CODE:
        return _CODE_BY_DOMAIN_CODE[error.code]
    for kind, code in _CODE_BY_KIND:
        if isinstance(error, kind):
            return code
    return INVALID_PARAMS


def error_for(exc: Exception) -> RpcError:
    """The one map from what a handler raised to what the caller is told."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, DomainError):
        return RpcError(code_for(exc), exc.message, {"code": exc.code, **exc.details})
    if isinstance(exc, DownstreamUnavailable):
        data = {"code": "DOWNSTREAM_UNAVAILABLE", "service": exc.service}
        return RpcError(DOWNSTREAM_UNAVAILABLE, str(exc), data)
    log.error("unhandled error in a JSON-RPC method", exc_info=exc)
    message = "an unexpected error occurred; see the service log"
    return RpcError(INTERNAL_ERROR, message, {"code": "INTERNAL_ERROR"})
