"""An HTTP/JSON client for calling another service: timeouts, correlation id, metrics.

Transport failures, timeouts and 5xx answers become `DownstreamUnavailable`, the one failure the
saga knows how to compensate; 4xx answers are returned for the caller to interpret. A caller that
reads a 2xx body does so inside `exchange`, so that an answer it cannot read (not JSON, a member
missing or of the wrong type) is counted `unreadable`, not `ok`, and is `DownstreamUnavailable`.

Why aiohttp and not httpx (used by the tests and the harness): this is the hot path of every
saga, and on these machines httpx spent about nine times more CPU per request than aiohttp
(measured side by side in one run), which would have made the REST style look slower than it is.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import aiohttp

from services.kernel import correlation, tracing
from services.kernel.errors import DownstreamUnavailable
from services.kernel.telemetry import Telemetry

MAX_CONNECTIONS = 200
# What reading a body of the wrong shape raises: not JSON or not UTF-8 (ValueError), nested past
# the parser (RecursionError), a member missing (KeyError) or of the wrong type (TypeError).
UNREADABLE = (KeyError, TypeError, ValueError, RecursionError)


@dataclass(frozen=True)
class Reply:
    """An answer that was received in full (the connection is already back in the pool)."""

    status_code: int
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return jsonlib.loads(self.body)


class JsonClient:
    """Calls one service. Create it inside the running event loop (aiohttp binds to it)."""

    def __init__(self, service: str, base_url: str, timeout_s: float, telemetry: Telemetry) -> None:
        self.service = service
        self._telemetry = telemetry
        self._timeout_s = timeout_s
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            trace_configs=_traced(),
        )

    async def call(self, operation: str, method: str, path: str, *, json: Any = None) -> Reply:
        """The answer, for a caller that reads no more of a 2xx than its status."""
        async with self.exchange(operation, method, path, json=json) as reply:
            return reply

    @asynccontextmanager
    async def exchange(
        self, operation: str, method: str, path: str, *, json: Any = None
    ) -> AsyncIterator[Reply]:
        """The answer, to be read inside the block; it is counted when the block ends: `ok` or
        `refused` by its status, `unreadable` if reading it raised one of UNREADABLE (then
        DownstreamUnavailable: the call may have had its effect), `refused` if the caller
        raised anything else (a typed refusal, or an answer it does not expect)."""
        reply = await self._send(operation, method, path, json)
        try:
            yield reply
        except UNREADABLE as error:
            self._count(operation, "unreadable")
            cause = f"unreadable answer ({type(error).__name__})"
            raise DownstreamUnavailable(self.service, operation, cause) from None
        except Exception:
            self._count(operation, "refused")
            raise
        self._count(operation, "ok" if reply.is_success else "refused")

    async def _send(self, operation: str, method: str, path: str, json: Any) -> Reply:
        headers = {correlation.HEADER: current} if (current := correlation.current()) else {}
        try:
            async with self._session.request(method, path, json=json, headers=headers) as answer:
                reply = Reply(answer.status, await answer.read())
        except TimeoutError:
            self._count(operation, "timeout")
            cause = f"no answer within {self._timeout_s}s"
            raise DownstreamUnavailable(self.service, operation, cause) from None
        except aiohttp.ClientError as error:
            self._count(operation, "unreachable")
            raise DownstreamUnavailable(self.service, operation, type(error).__name__) from None
        if reply.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            self._count(operation, "server_error")
            cause = f"HTTP {reply.status_code}"
            raise DownstreamUnavailable(self.service, operation, cause)
        return reply

    async def aclose(self) -> None:
        await self._session.close()

    def _count(self, operation: str, outcome: str) -> None:
        self._telemetry.downstream_calls.labels(self.service, operation, outcome).inc()


def _traced() -> list[aiohttp.TraceConfig]:
    """A client span per call, its `traceparent` in the request headers (when tracing is on)."""
    if not tracing.enabled():
        return []
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    return [create_trace_config()]


class HealthProbe:
    """Asks other services' /health, for a readiness check that names who is missing."""

    def __init__(self, urls: dict[str, str], timeout_s: float = 1.0) -> None:
        self._urls = urls
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def check(self) -> dict[str, bool]:
        return {name: await self._answers(url) for name, url in self._urls.items()}

    async def aclose(self) -> None:
        await self._session.close()

    async def _answers(self, url: str) -> bool:
        try:
            async with self._session.get(f"{url}/health") as answer:
                return answer.status == HTTPStatus.OK
        except (TimeoutError, aiohttp.ClientError):
            return False
