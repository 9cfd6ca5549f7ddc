"""The asynchronous HTTP front as a load client: `POST /orders` with `Prefer: respond-async`
answers 202 and `Location` at once (`place_order`), then the order's status stream
(`GET /orders/{id}/events`, Server-Sent Events) runs until the order is final
(`order_completed`, when the stream ends: the server ends it right after the final status).

The broker style places this way by default, as a shop would (the choreography runs the order);
REST's `rest-sse` variant asks the same front to run REST's own saga (`flow=orchestrated`). The
stream is read on the user's own HTTP connection pool but not reported as a request of its own:
it is the order's completion. Its lines are parsed by the shared client (harness/clients/sse.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

from locust.exception import RescheduleTask

from harness.clients import sse
from harness.clients.shapes import CHOREOGRAPHED, rest_accept
from harness.load import tracing as traced
from harness.load.mix import OrderPlan
from harness.load.styles.http import HttpStyleUser, expect_json


class AsyncFrontUser(HttpStyleUser):
    abstract = True
    prefer: ClassVar[str] = CHOREOGRAPHED

    def place_order(self, plan: OrderPlan) -> str:
        started = self.started()
        body, headers = rest_accept(plan.request, self.prefer)
        headers |= traced.headers()  # the order's trace context, when this process traces
        with self.client.post(
            "/orders", json=body, headers=headers, name="place_order", catch_response=True
        ) as answer:
            order = expect_json(answer, 202)
            location = (answer.headers or {}).get("location")
        if order is None or not location:
            raise RescheduleTask()  # not accepted: nothing to complete (reported as place_order)
        with self.reporter.measure("order_completed", started, plan.accepted) as measured:
            text = self._stream(location)
            measured.length = len(text)
            final = sse.outcome(sse.parse(text))
            if final is None:
                raise RuntimeError(f"the status stream of {location} ended before the order")
            plan.check(*final)
        return str(order["id"])

    def _stream(self, location: str) -> str:
        """The whole status stream (it ends after the final status), unreported."""
        url = self.targets.order_http + sse.events_path(location)
        answer: Any = self.client.client.urlopen(url, headers=sse.ACCEPT, max_retries=0)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {sse.events_path(location)}: HTTP {answer.status_code}")
        return str(answer.text or "")
