"""What the tests of order replicas (tests/e2e/test_replicas.py) read and set on the replicated
stack: an operation held still on every replica of a service, the claim an order's row records,
and what a replica logged after a given moment."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from harness.clients.faults import FaultControl
from harness.stack import postgres
from harness.stack.supervisor import Stack
from tests.conftest import ADMIN_URL

# The stack's claim lease: short, so a test sees a dead replica's sagas taken over in seconds.
LEASE_S = 2.0


@contextlib.contextmanager
def held(stack: Stack, operation: str) -> Iterator[None]:
    """Every replica of the operation's service hangs in `operation` until the block ends. A
    stand-still like pause(), but the replicas still answer the proxy's health checks: a paused
    pair would be taken out of rotation, and the proxy would refuse the calls they were to get."""
    service = operation.partition(".")[0]
    token = stack.config.extra_env["ORDERFLOW_CONTROL_TOKEN"]
    controls = [FaultControl(port, token) for port in stack.replica_control_ports(service)]
    try:
        for control in controls:
            control.set(operation, hang=True)
        yield
    finally:
        for control in controls:
            control.clear(operation)


def claimed_by(stack: Stack, order_id: str) -> str | None:
    """The replica id holding the order's claim (the replicas' shared order database)."""
    url = postgres.url_of(ADMIN_URL, stack.config.database_name("order"))
    with psycopg.connect(url) as db:
        found = db.execute("SELECT claimed_by FROM orders WHERE id = %s", (order_id,)).fetchone()
    assert found is not None, f"no order {order_id} in the order database"
    return None if found[0] is None else str(found[0])


class LogMark:
    """A replica's log from now on: what it did during a test, not in the module's earlier ones."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = path.stat().st_size

    def since(self) -> str:
        with self._path.open("rb") as log:
            log.seek(self._offset)
            return log.read().decode("utf-8", errors="replace")


def place_in_background(url: str, body: dict[str, Any]) -> threading.Thread:
    """A client of one order replica (`url`) whose connection may die with it; its answer does
    not matter."""

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{url}/orders", json=body, timeout=60.0)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def notified(http: httpx.Client, stack: Stack, order_id: str) -> list[str]:
    """What notification recorded for the order, once it has been delivered."""
    deadline = time.monotonic() + 15
    while True:
        answer = http.get(
            f"{stack.url('notification')}/notifications", params={"order_id": order_id}
        )
        kinds = [n["kind"] for n in answer.json()["notifications"]]
        if kinds or time.monotonic() > deadline:
            return kinds
        time.sleep(0.05)
