"""Builds a service's ASGI app: its own routes plus what every service has in common.

Common parts: `GET /health` (the process is alive), `GET /ready` (its dependencies answer),
`GET /metrics` (Prometheus), problem+json errors, a body size limit, correlation ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import HTTPConnection
from strawberry.fastapi import GraphQLRouter

from services.kernel import tracing
from services.kernel.http.middleware import (
    BodySizeLimit,
    CorrelationId,
    RequestMetrics,
    UnexpectedErrors,
)
from services.kernel.http.problem import install_problem_handlers, problem_responses
from services.kernel.telemetry import Telemetry

ReadinessCheck = Callable[[], Awaitable[Mapping[str, bool]]]
H = TypeVar("H")


def handlers_of(kind: type[H]) -> Callable[[HTTPConnection], Awaitable[H]]:
    """The one way an adapter on the HTTP port (a REST route, a JSON-RPC socket, the GraphQL
    context) receives the service's use cases: a FastAPI dependency on `app.state.handlers`,
    set by the composition root through `create_http_app(state=...)`, so nothing is built at
    import time. (gRPC servicers take them in their constructor, broker reactions in a closure.)"""

    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop on every request.
    async def dependency(connection: HTTPConnection) -> H:
        found = connection.app.state.handlers
        if not isinstance(found, kind):
            raise TypeError(f"app.state.handlers is {type(found).__name__}, not {kind.__name__}")
        return found

    return dependency


def create_http_app(
    *,
    title: str,
    description: str,
    routers: list[APIRouter],
    telemetry: Telemetry,
    readiness: ReadinessCheck,
    max_body_bytes: int,
    problem_statuses: Mapping[str, int] | None = None,
    state: Mapping[str, Any] | None = None,
) -> FastAPI:
    # Any route may answer these; routes add the ones particular to them (404, 409, ...).
    common = problem_responses(400, 413, 422, 500)
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        responses=common,
        # FastAPI's own OpenTelemetry is off: services/kernel/tracing.py decides whether a
        # service traces, and its instrumentation makes the spans (_trace below). Left on,
        # FastAPI would trace every request whenever a tracer provider is installed, whatever
        # that switch says, and it looks the providers up on every request (~3 µs each, 2-3%
        # of the inventory's samples under the REST bench).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    for key, value in (state or {}).items():
        setattr(app.state, key, value)
    for router in routers:
        # GraphQL publishes its own schema (SDL, introspection); in OpenAPI its endpoint would be
        # a POST without a body that every schema-driven client then sends wrong.
        app.include_router(router, include_in_schema=not isinstance(router, GraphQLRouter))
    app.include_router(_operations_router(telemetry, readiness))
    install_problem_handlers(app, problem_statuses or {})
    # Outermost last: metrics see every request, including refused ones. Innermost first:
    # an unexpected error is answered before Starlette's own handler would close the connection.
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(BodySizeLimit, limit=max_body_bytes)
    app.add_middleware(CorrelationId)
    app.add_middleware(RequestMetrics, telemetry=telemetry)
    if tracing.enabled():
        _trace(app)
    return app


def _trace(app: FastAPI) -> None:
    """A server span per request and per WebSocket (its upgrade's `traceparent` is the parent;
    its frames are not spans of their own: JSON-RPC makes one per request). Probes are left out."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="/health,/ready,/metrics", exclude_spans=["receive", "send"]
    )


def _operations_router(telemetry: Telemetry, readiness: ReadinessCheck) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": telemetry.service}

    @router.get(
        "/ready",
        summary="Readiness: the service's dependencies answer",
        responses={503: {"description": "a dependency does not answer; `checks` says which"}},
    )
    async def ready() -> JSONResponse:
        checks = dict(await readiness())
        ok = all(checks.values())
        body = {"status": "ready" if ok else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)

    return router
