"""Two order replicas, real processes, on one PostgreSQL database (the stack on PostgreSQL, plus
a second order process on the same order database with a port and a replica id of its own).

While both run, each saga is driven by the replica that claimed it: orders placed on both at
once each go place, reserve, charge, confirm exactly once, though both recovery loops run every
half second. Then one replica is killed (SIGKILL) in the middle of a charge, with payment frozen
so the saga stands still: the other leaves the order alone while the first is alive (its claim
is renewed), and once the dead one's lease lapses it finishes the order, charged once, the stock
consistent, the customer told once.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from harness.clients.rest import wait_for
from harness.rabbit.users import service_environment
from harness.stack import postgres
from harness.stack.ports import free_ports
from harness.stack.process import Child
from harness.stack.supervisor import Stack, StackConfig
from harness.vocabulary import TERMINAL
from services.kernel.config import port_variable
from tests.conftest import ADMIN_URL
from tests.e2e.conftest import E2E_ENV, broker_env, remove_topology
from tests.e2e.rest_client import available, charge, order_body
from tests.e2e.test_crash_recovery import order_of, place_in_background

pytestmark = pytest.mark.e2e

LEASE_S = 2.0
REPLICA_B = "order-b"
HAPPY_SAGA = ["place", "reserve", "charge", "confirm"]


@dataclasses.dataclass
class Replicas:
    stack: Stack  # replica a is the stack's order process
    b: Child
    b_url: str

    @property
    def order_db(self) -> str:
        return postgres.url_of(ADMIN_URL, self.stack.config.database_name("order"))

    def claimed_by(self, order_id: str) -> str | None:
        with psycopg.connect(self.order_db) as db:
            row = db.execute("SELECT claimed_by FROM orders WHERE id = %s", (order_id,))
            found = row.fetchone()
        assert found is not None
        return None if found[0] is None else str(found[0])


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    env = {**E2E_ENV, **broker_env(), "ORDERFLOW_CLAIM_LEASE_S": str(LEASE_S)}
    config = StackConfig.on_free_ports(tmp_path_factory.mktemp("replicas"), extra_env=env)
    stack = Stack(dataclasses.replace(config, postgres_admin_url=ADMIN_URL))
    try:
        stack.start(reset=True, timeout_s=60)
    except postgres.PostgresUnavailable as error:
        pytest.fail(f"replicas on PostgreSQL need a server: {error}", pytrace=False)
    b: Child | None = None
    try:
        b, b_url = _start_replica_b(stack)
        yield Replicas(stack, b, b_url)
    finally:
        if b is not None:
            b.terminate()
            b.wait(time.monotonic() + 10)
        stack.stop()
        remove_topology(stack)
        stack.drop_databases()


def _start_replica_b(stack: Stack) -> tuple[Child, str]:
    """A second order process on the stack's order database, as `orderflow up` starts one."""
    http_port, grpc_port = free_ports(2, stack.config.host, exclude=_stack_ports(stack))
    env = stack.config.environment(os.environ)
    env.update(service_environment(env, "order"))
    env[port_variable("order", "http")] = str(http_port)
    env[port_variable("order", "grpc")] = str(grpc_port)
    env["ORDERFLOW_DATABASE_URL"] = postgres.url_of(ADMIN_URL, stack.config.database_name("order"))
    env["ORDERFLOW_REPLICA_ID"] = REPLICA_B
    child = Child.spawn("order", env, stack.config.data_dir / "logs" / "order-b.log")
    url = f"http://{stack.config.host}:{http_port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.is_running(), f"replica b exited:\n{child.tail()}"
        try:
            if httpx.get(f"{url}/ready", timeout=1.0).status_code == 200:
                return child, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    child.kill()
    raise AssertionError(f"replica b did not become ready:\n{child.tail()}")


def _stack_ports(stack: Stack) -> list[int]:
    return [claim.port for claim in stack.config.port_claims()]


def test_orders_placed_on_both_replicas_at_once_run_each_saga_once(
    replicas: Replicas, http: httpx.Client
) -> None:
    urls = [replicas.stack.url("order"), replicas.b_url] * 6
    answers: list[dict[str, Any]] = []

    def place(url: str) -> None:
        with httpx.Client(timeout=30.0) as client:
            answers.append(client.post(f"{url}/orders", json=order_body({"KB-MECH": 1})).json())

    threads = [threading.Thread(target=place, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [answer["status"] for answer in answers] == ["CONFIRMED"] * len(urls)
    for answer in answers:
        saga = http.get(f"{replicas.b_url}/orders/{answer['id']}/saga").json()["steps"]
        assert [step["step"] for step in saga] == HAPPY_SAGA
        assert replicas.claimed_by(answer["id"]) is None  # a finished saga holds no claim


def test_a_replica_killed_mid_charge_is_finished_by_the_other_once(
    replicas: Replicas, http: httpx.Client
) -> None:
    stack = replicas.stack
    before = available(http, stack, "MON-27")
    body = order_body({"MON-27": 2})
    stack.pause("payment")
    try:
        client = place_in_background(stack, body)  # on replica a
        order = order_of(http, stack, body["customer_id"], "RESERVED")
        holder_a = f"{socket.gethostname()}:{stack.pid('order')}"
        # Two leases and many recovery rounds of b later, a (alive, renewing) still holds it.
        time.sleep(2.5 * LEASE_S)
        assert replicas.claimed_by(order["id"]) == holder_a
        stack.kill("order")
        client.join(timeout=10)
    finally:
        stack.resume("payment")  # it may now take a's charge: b's repeats it, answered once
    final = wait_for(http, f"{replicas.b_url}/orders/{order['id']}", TERMINAL)
    assert final["status"] in {"CONFIRMED", "CANCELLED"}
    held = before - available(http, stack, "MON-27")
    if final["status"] == "CONFIRMED":
        assert (charge(http, stack, final["id"]), held) == ("CHARGED", 2)
    else:
        assert charge(http, stack, final["id"]) in {None, "REFUNDED", "VOIDED"}
        assert held == 0
    saga = http.get(f"{replicas.b_url}/orders/{final['id']}/saga").json()["steps"]
    assert len([s for s in saga if s["step"] == "charge"]) == 1  # b's, once; a saved none
    assert replicas.claimed_by(final["id"]) is None
    assert _notified(http, stack, final["id"]) == [f"order.{final['status'].lower()}"]
    assert "recovery drove 1 unfinished order(s)" in replicas.b.tail(200)


def _notified(http: httpx.Client, stack: Stack, order_id: str) -> list[str]:
    """What notification recorded for the order, once b has delivered it."""
    deadline = time.monotonic() + 15
    while True:
        answer = http.get(
            f"{stack.url('notification')}/notifications", params={"order_id": order_id}
        )
        kinds = [n["kind"] for n in answer.json()["notifications"]]
        if kinds or time.monotonic() > deadline:
            return kinds
        time.sleep(0.05)
