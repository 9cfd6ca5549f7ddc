"""An HTTP/JSON client for calling another service: timeouts, correlation id, metrics.

Transport failures, timeouts and 5xx answers become `DownstreamUnavailable`, the one failure the
saga knows how to compensate; 4xx answers are returned for the caller to interpret.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.kernel import correlation
from services.kernel.errors import DownstreamUnavailable
from services.kernel.telemetry import Telemetry


class JsonClient:
    def __init__(
        self,
        service: str,
        base_url: str,
        timeout_s: float,
        telemetry: Telemetry,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = service
        self._telemetry = telemetry
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            event_hooks={"request": [_add_correlation_id]},
            transport=transport,  # None: real TCP; tests may pass an in-process ASGI peer
        )

    async def call(
        self, operation: str, method: str, path: str, *, json: Any = None
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=json)
        except httpx.TimeoutException:
            self._count(operation, "timeout")
            cause = f"no answer within {self._timeout_s}s"
            raise DownstreamUnavailable(self.service, operation, cause) from None
        except httpx.TransportError as error:
            self._count(operation, "unreachable")
            cause = type(error).__name__
            raise DownstreamUnavailable(self.service, operation, cause) from None
        if response.status_code >= 500:
            self._count(operation, "server_error")
            cause = f"HTTP {response.status_code}"
            raise DownstreamUnavailable(self.service, operation, cause)
        self._count(operation, "ok" if response.is_success else "refused")
        return response

    async def aclose(self) -> None:
        await self._http.aclose()

    def _count(self, operation: str, outcome: str) -> None:
        self._telemetry.downstream_calls.labels(self.service, operation, outcome).inc()


async def _add_correlation_id(request: httpx.Request) -> None:
    current = correlation.current()
    if current:
        request.headers[correlation.HEADER] = current


class HealthProbe:
    """Asks other services' /health, for a readiness check that names who is missing."""

    def __init__(self, urls: dict[str, str], timeout_s: float = 1.0) -> None:
        self._urls = urls
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))

    async def check(self) -> dict[str, bool]:
        return {name: await self._answers(url) for name, url in self._urls.items()}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _answers(self, url: str) -> bool:
        try:
            response = await self._http.get(f"{url}/health")
        except httpx.HTTPError:
            return False
        return response.status_code == httpx.codes.OK
