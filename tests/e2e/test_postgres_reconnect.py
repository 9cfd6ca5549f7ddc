"""The stack on PostgreSQL when its database goes away and comes back: no restart needed.

Every service reaches the machine's PostgreSQL through a gate of the test's own (tests/tcp_gate.py),
so that an outage is the gate's: the server itself is never stopped or reconfigured, and the only
backends terminated are the stack's own (found by their databases, which the stack made). A
request that meets the loss fails cleanly (503 DOWNSTREAM_UNAVAILABLE from `database`, nothing
half-written) or succeeds; `/ready` says `database: false` while it is away; and once it is back,
orders complete again and the books add up (the audit).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from harness import audit
from harness.stack.supervisor import Stack, StackConfig
from services.kernel.broker import catalogue as ev
from tests.conftest import ADMIN_URL
from tests.e2e import broker_helpers
from tests.e2e.conftest import E2E_ENV, broker_env, on_postgres
from tests.e2e.rest_client import order_body
from tests.tcp_gate import Gate

pytestmark = pytest.mark.e2e

SERVICES = ("inventory", "payment", "order", "notification")


@pytest.fixture(scope="module")
def gate() -> Iterator[Gate]:
    server = urlsplit(ADMIN_URL)
    through = Gate((server.hostname or "127.0.0.1", server.port or 5432))
    yield through
    through.close()


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory, gate: Gate) -> Iterator[Stack]:
    config = StackConfig.on_free_ports(
        tmp_path_factory.mktemp("pg-reconnect"), extra_env={**E2E_ENV, **broker_env()}
    )
    through_gate = dataclasses.replace(config, postgres_admin_url=gate.url(ADMIN_URL))
    with on_postgres(through_gate, before_stop=gate.open) as stack:
        yield stack


def test_connections_killed_under_the_services_are_replaced_and_orders_go_on(
    pg_stack: Stack, http: httpx.Client
) -> None:
    before = audit.snapshot(_urls(pg_stack))
    customers = [_confirmed(http, pg_stack, "kill-0")]
    assert _terminate(pg_stack, ("order",)) >= 1
    # The order service finds its connection gone: the request fails cleanly, or (found lost at
    # BEGIN, before anything was done) runs on a new connection at once.
    answer, customer = _place(http, pg_stack, "kill-1")
    print("the first order after the kill:", answer.status_code)
    _assert_clean(answer)
    customers.append(customer)
    _retry_until_placed(http, pg_stack, "kill-1", customer)
    assert _terminate(pg_stack, SERVICES) >= 4  # every service's, between two orders
    customers += [_confirmed(http, pg_stack, f"kill-{n}") for n in range(2, 6)]
    # And over the broker: every outbox, inbox and unit of work on new connections too.
    assert _terminate(pg_stack, SERVICES) >= 4
    broker_helpers.require_broker(broker_helpers.broker_url(pg_stack))
    with broker_helpers.client(pg_stack) as broker:
        placed = broker_helpers.request("KB-MECH", 1)
        event = broker.place_and_wait(placed)
    assert (event.type, event.data["order"]["status"]) == (ev.ORDER_CONFIRMED, "CONFIRMED")
    customers.append(placed["customer_id"])
    assert all(_ready(http, pg_stack, service) for service in SERVICES)
    ledger = audit.account(_urls(pg_stack), customers, before, grace_s=30)
    assert ledger.sound and ledger.outcomes["CONFIRMED/-"] == 7, ledger.summary()


def test_while_the_database_is_away_requests_are_refused_and_ready_says_so(
    pg_stack: Stack, http: httpx.Client, gate: Gate
) -> None:
    before = audit.snapshot(_urls(pg_stack))
    customers = [_confirmed(http, pg_stack, "away-0")]
    gate.cut("refuse")  # the server is down, for every service at once
    for service in SERVICES:
        assert _eventually(lambda s=service: _ready_answer(http, pg_stack, s) is False, 10), service
    answer, refused = _place(http, pg_stack, "away-1")
    assert answer.status_code == 503, answer.text
    _assert_clean(answer)
    gate.open()
    for service in SERVICES:
        assert _eventually(lambda s=service: _ready(http, pg_stack, s), 15), service
    # The refused request, sent again under its key, is placed once; new ones go through too.
    _retry_until_placed(http, pg_stack, "away-1", refused)
    customers += [refused, _confirmed(http, pg_stack, "away-2")]
    ledger = audit.account(_urls(pg_stack), customers, before, grace_s=30)
    assert ledger.sound and ledger.outcomes["CONFIRMED/-"] == 3, ledger.summary()


def _terminate(stack: Stack, services: tuple[str, ...]) -> int:
    """End the server backends of these services' connections (and only theirs: each service
    has a database of the stack's own). Issued on the server directly, not through the gate."""
    names = [stack.config.database_name(service) for service in services]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        _await_connections(admin, names)
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = ANY(%s) AND application_name LIKE 'orderflow-%%'",
            (names,),
        ).fetchall()
    return sum(1 for (ended,) in rows if ended)


def _await_connections(admin: psycopg.Connection[Any], names: list[str]) -> None:
    """Until each of these databases has a service's connection again: a service replaces a lost
    connection at its next transaction, which its background loops start within seconds, so one
    killed a moment ago may not be back yet (and would not be there to kill)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = admin.execute(
            "SELECT DISTINCT datname FROM pg_stat_activity"
            " WHERE datname = ANY(%s) AND application_name LIKE 'orderflow-%%'",
            (names,),
        ).fetchall()
        if len(rows) == len(names):
            return
        time.sleep(0.1)


def _place(
    http: httpx.Client, stack: Stack, key: str, customer: str | None = None
) -> tuple[httpx.Response, str]:
    body = order_body({"KB-MECH": 1}, customer=customer)
    answer = http.post(f"{stack.url('order')}/orders", json=body, headers={"Idempotency-Key": key})
    return answer, str(body["customer_id"])


def _confirmed(http: httpx.Client, stack: Stack, key: str) -> str:
    answer, customer = _place(http, stack, key)
    assert (answer.status_code, answer.json().get("status")) == (201, "CONFIRMED"), answer.text
    return customer


def _retry_until_placed(http: httpx.Client, stack: Stack, key: str, customer: str) -> None:
    """Send the request again under its key until it is answered as placed (once only)."""
    deadline = time.monotonic() + 15
    while True:
        answer, _ = _place(http, stack, key, customer)
        if answer.status_code in (200, 201):
            assert answer.json()["status"] == "CONFIRMED", answer.text
            return
        _assert_clean(answer)
        assert time.monotonic() < deadline, f"{key} was never placed: {answer.text}"
        time.sleep(0.2)


def _assert_clean(answer: httpx.Response) -> None:
    """Placed, or refused as the database's unavailability: never an internal error."""
    if answer.status_code in (200, 201):
        return
    problem: dict[str, Any] = answer.json()
    assert answer.status_code == 503, answer.text
    assert (problem["code"], problem.get("service")) == ("DOWNSTREAM_UNAVAILABLE", "database")


def _ready_answer(http: httpx.Client, stack: Stack, service: str) -> bool | None:
    """What `/ready` says of the database (None: no answer)."""
    try:
        checks = http.get(f"{stack.url(service)}/ready").json()["checks"]
    except httpx.HTTPError:
        return None
    return bool(checks["database"])


def _ready(http: httpx.Client, stack: Stack, service: str) -> bool:
    return _ready_answer(http, stack, service) is True


def _eventually(condition: Any, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _urls(stack: Stack) -> dict[str, str]:
    return {service: stack.url(service) for service in SERVICES}
