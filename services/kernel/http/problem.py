"""RFC 9457 problem details: the REST edge's one error map.

Domain errors carry a stable `code`; this module turns each kind into a status and a
`application/problem+json` body with the code, a human `detail`, and the error's details as
extension members. Nothing else in a REST adapter builds an error response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.kernel.errors import (
    Conflict,
    DomainError,
    DownstreamUnavailable,
    InvalidRequest,
    NotFound,
    Overloaded,
    Rejected,
)
from services.kernel.http.allow import allowed_methods

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

_STATUS_BY_KIND: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidRequest, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Rejected, 409),
    (Overloaded, 503),
)


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of every service is shaped (for OpenAPI)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting problem+json answers with these statuses."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {MEDIA_TYPE: {"schema": Problem.model_json_schema()}},
        }
        for status in statuses
    }


REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"description": "A replay: the record made by the first call with this key, unchanged"}
}


def internal_error() -> JSONResponse:
    return problem(500, "INTERNAL_ERROR", "an unexpected error occurred; see the service log")


def problem(status: int, code: str, detail: str, **extensions: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:orderflow:problem:{code.lower().replace('_', '-')}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def status_for(error: DomainError, overrides: Mapping[str, int]) -> int:
    if error.code in overrides:
        return overrides[error.code]
    for kind, status in _STATUS_BY_KIND:
        if isinstance(error, kind):
            return status
    return 400


def install_problem_handlers(app: FastAPI, overrides: Mapping[str, int]) -> None:
    """Register handlers so every error leaves the service as problem+json."""

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        response = problem(status_for(exc, overrides), exc.code, exc.message, **exc.details)
        if isinstance(exc, Overloaded):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [_describe(e) for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return _malformed_json("the request body is not valid JSON", errors=errors)
        return problem(
            422, "INVALID_REQUEST", "the request does not match the schema", errors=errors
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if _is_unreadable_body(exc):
            return _malformed_json(f"the request body is not valid JSON: {exc.__cause__}")
        code = HTTPStatus(exc.status_code).name  # e.g. NOT_FOUND, METHOD_NOT_ALLOWED
        response = problem(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(request.app.routes, request.scope)
            response.headers["Allow"] = ", ".join(allowed)
        return response

    async def on_downstream(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DownstreamUnavailable)
        return problem(503, "DOWNSTREAM_UNAVAILABLE", str(exc), service=exc.service)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only what escapes the middleware reaches here (see middleware.UnexpectedErrors).
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return internal_error()

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DownstreamUnavailable, on_downstream)
    app.add_exception_handler(Exception, on_unexpected)


def _is_unreadable_body(exc: StarletteHTTPException) -> bool:
    """FastAPI's own 400 for a body that its JSON decoder raised on other than as a syntax error:
    a number over Python's 4300-digit limit (ValueError), nesting past the recursion limit
    (RecursionError), bytes that are not UTF-8 (UnicodeDecodeError, a ValueError)."""
    return exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError)


def _malformed_json(detail: str, **extensions: Any) -> JSONResponse:
    return problem(400, "MALFORMED_JSON", detail, **extensions)


def _describe(error: Any) -> dict[str, Any]:
    if error["type"] == "json_invalid":
        return {"field": "body", "message": error.get("msg", ""), "type": error["type"]}
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return {"field": location or "body", "message": error.get("msg", ""), "type": error["type"]}
