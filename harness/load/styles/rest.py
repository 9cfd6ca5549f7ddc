"""REST: JSON over HTTP/1.1 on Locust's FastHttpUser (geventhttpclient), so the load generator
spends little CPU per request. The answer to POST /orders carries the order's final status,
so for REST `order_completed` is that same answer."""

from __future__ import annotations

from typing import Any

from locust.contrib.fasthttp import FastHttpUser, ResponseContextManager
from locust.exception import RescheduleTask

from harness.load.base import StyleUser
from harness.load.mix import OrderPlan
from harness.load.report import Restyled

TIMEOUT_S = 30.0


class RestUser(StyleUser, FastHttpUser):
    abstract = True
    style = "rest"
    network_timeout = TIMEOUT_S
    connection_timeout = TIMEOUT_S

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.client.request_event = Restyled(environment.events.request, self.style, self._due)

    def _due(self) -> float | None:
        return self.due

    def browse_catalog(self) -> None:
        url = f"{self.targets.inventory_http}/products"
        with self.client.get(url, name="browse_catalog", catch_response=True) as answer:
            expect_json(answer, 200)

    def place_order(self, plan: OrderPlan) -> str:
        started = self.started()
        body = {k: v for k, v in plan.request.items() if k != "idempotency_key"}
        headers = {"Idempotency-Key": plan.request["idempotency_key"]}
        with self.client.post(
            "/orders", json=body, headers=headers, name="place_order", catch_response=True
        ) as answer:
            order = expect_json(answer, 201)
        if order is None:
            raise RescheduleTask()  # not placed: nothing to complete (reported as place_order)
        with self.reporter.measure("order_completed", started):
            plan.check(order["status"], order["reason"])
        return str(order["id"])

    def get_order(self, order_id: str) -> None:
        with self.client.get(
            f"/orders/{order_id}", name="get_order", catch_response=True
        ) as answer:
            expect_json(answer, 200)

    def noop(self) -> None:
        with self.client.get("/health", name="noop", catch_response=True) as answer:
            expect_json(answer, 200)


def expect_json(answer: ResponseContextManager, status: int) -> Any:
    """The decoded JSON answer if it has the expected status; otherwise marked failed (None)."""
    if answer.status_code != status:
        answer.failure(f"HTTP {answer.status_code}: {(answer.text or '')[:120]}")
        return None
    try:
        return answer.json()
    except ValueError:
        answer.failure("the answer is not JSON")
        return None
