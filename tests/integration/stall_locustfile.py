"""A locustfile for tests/integration/test_open_model.py only: `StallProbe` sends one HTTP GET of
`/` per task through the real hooks (options, open-model schedule, recorder), so the test can see
how its latency is measured when the server stalls. `FastStallProbe` does the same on the HTTP
base the REST, GraphQL and broker users share (Locust's FastHttpSession, whose own timing the
users correct to the due time).

    locust -f tests/integration/stall_locustfile.py StallProbe --host http://127.0.0.1:PORT ...
"""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

# Locust monkey-patches the standard library for gevent on import: first, so that http.client's
# sockets cooperate with the other users' greenlets.
import locust  # noqa: F401

from harness.load import hooks
from harness.load.base import CALIBRATION, StyleUser
from harness.load.styles.http import HttpStyleUser

hooks.install()

TIMEOUT_S = 30.0


class StallProbe(StyleUser):
    style = "probe"
    tasks = CALIBRATION

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        address = urlsplit(self.targets.order_http)
        # One kept-alive connection per user: http.client reopens it after a failure.
        self._connection = http.client.HTTPConnection(
            address.hostname or "127.0.0.1", address.port or 80, timeout=TIMEOUT_S
        )

    def noop(self) -> None:
        with self.reporter.measure("noop", self.started()) as measured:
            try:
                self._connection.request("GET", "/")
                answer = self._connection.getresponse()
                body = answer.read()
            except Exception:
                self._connection.close()
                raise
            measured.length = len(body)
            if answer.status != 200:
                raise RuntimeError(f"HTTP {answer.status}")

    def on_stop(self) -> None:
        self._connection.close()


class FastStallProbe(HttpStyleUser):
    style = "probe"
    tasks = CALIBRATION

    def noop(self) -> None:
        with self.client.get("/", name="noop", catch_response=True) as answer:
            if answer.status_code != 200:
                answer.failure(f"HTTP {answer.status_code}")
