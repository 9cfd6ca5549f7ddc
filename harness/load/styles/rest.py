"""REST: JSON over HTTP/1.1 (see http.py). The answer to POST /orders carries the order's final
status, so for REST `order_completed` is that same answer. The `rest-sse` variant has the same
saga answer 202 at once instead, and takes the outcome from the order's status stream
(front.py)."""

from __future__ import annotations

from locust.exception import RescheduleTask

from harness.clients.shapes import ORCHESTRATED, rest_place
from harness.load import tracing as traced
from harness.load.mix import OrderPlan
from harness.load.styles.front import AsyncFrontUser
from harness.load.styles.http import HttpStyleUser, expect_json


class RestUser(HttpStyleUser):
    abstract = True
    style = "rest"

    def browse_catalog(self) -> None:
        self.rest_browse_catalog()

    def place_order(self, plan: OrderPlan) -> str:
        started = self.started()
        body, headers = rest_place(plan.request)
        headers |= traced.headers()  # the order's trace context, when this process traces
        with self.client.post(
            "/orders", json=body, headers=headers, name="place_order", catch_response=True
        ) as answer:
            order = expect_json(answer, 201)
        if order is None:
            raise RescheduleTask()  # not placed: nothing to complete (reported as place_order)
        with self.reporter.measure("order_completed", started, plan.accepted):
            plan.check(order["status"], order["reason"])  # a malformed order fails here too
            return str(order["id"])

    def get_order(self, order_id: str) -> None:
        self.rest_get_order(order_id)

    def noop(self) -> None:
        with self.client.get("/health", name="noop", catch_response=True) as answer:
            expect_json(answer, 200)


class RestSseUser(AsyncFrontUser, RestUser):
    """REST's orchestrated saga, answered 202; the outcome from the status stream."""

    abstract = True
    style = "rest-sse"
    prefer = ORCHESTRATED
