"""What the styles that speak HTTP share: Locust's FastHttpUser (geventhttpclient), so the load
generator spends little CPU per request, reporting under the style's name and timed from the
due time; and the catalog and order reads over REST (the broker user makes them too)."""

from __future__ import annotations

from typing import Any

from locust.contrib.fasthttp import FastHttpUser, ResponseContextManager

from harness.load.base import StyleUser
from harness.load.report import Restyled

TIMEOUT_S = 30.0


class HttpStyleUser(StyleUser, FastHttpUser):
    abstract = True
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.client.request_event = Restyled(environment.events.request, self.style, self._due)

    def _due(self) -> float | None:
        return self.due

    def rest_browse_catalog(self) -> None:
        url = f"{self.targets.inventory_http}/products"
        with self.client.get(url, name="browse_catalog", catch_response=True) as answer:
            expect_json(answer, 200)

    def rest_get_order(self, order_id: str) -> None:
        with self.client.get(
            f"/orders/{order_id}", name="get_order", catch_response=True
        ) as answer:
            expect_json(answer, 200)


def expect_json(answer: ResponseContextManager, status: int) -> Any:
    """The decoded JSON answer if it has the expected status; otherwise marked failed (None)."""
    if answer.status_code != status:
        answer.failure(http_problem(answer))
        return None
    try:
        return answer.json()
    except ValueError:
        answer.failure("the answer is not JSON")
        return None


def http_problem(answer: ResponseContextManager) -> str:
    """Why a call failed: the connection's error (no HTTP status at all), or status and body."""
    error = answer.request_meta.get("exception")
    if not answer.status_code and error is not None:
        return f"no answer: {error!r}"[:200]
    return f"HTTP {answer.status_code}: {(answer.text or '')[:120]}"
