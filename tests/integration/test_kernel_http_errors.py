"""An unexpected error in a route: a 500 problem+json answered inside the app, so the server
keeps the connection open (Starlette's own handler answers, then re-raises, and uvicorn closes
it); the same connection then serves the next request."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import APIRouter

from services.kernel import correlation
from services.kernel.http.app import create_http_app
from services.kernel.telemetry import Telemetry


async def ready() -> Mapping[str, bool]:
    return {}


def app_failing_on_boom() -> object:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    return create_http_app(
        title="t",
        description="d",
        routers=[router],
        telemetry=Telemetry("test"),
        readiness=ready,
        max_body_bytes=1024,
    )


async def test_an_unexpected_error_is_a_500_problem_that_does_not_escape_the_app() -> None:
    # The transport re-raises whatever escapes the app: before the fix, RuntimeError did.
    transport = httpx.ASGITransport(app=app_failing_on_boom())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/boom", headers={correlation.HEADER: "corr-500"})
        assert answer.status_code == 500
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "INTERNAL_ERROR" and "a bug" not in answer.text
        assert answer.headers[correlation.HEADER] == "corr-500"  # still traceable
        assert (await client.get("/health")).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert (
            'orderflow_http_requests_total{method="GET",route="/boom",status="500"} 1.0' in metrics
        )
