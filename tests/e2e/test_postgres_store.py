"""The stack on PostgreSQL (`orderflow up --store postgres`): each service on a database of its
own on the machine's server, an order placed over REST end to end, the databases dropped after.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from harness.stack import postgres
from harness.stack.supervisor import Stack, StackConfig
from services.kernel.broker import catalogue as ev
from tests.conftest import ADMIN_URL
from tests.e2e import broker_helpers
from tests.e2e.conftest import E2E_ENV, broker_env, on_postgres
from tests.e2e.replica_helpers import notified
from tests.e2e.rest_client import available, charge, order_body, payment_summary

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.on_free_ports(
        tmp_path_factory.mktemp("pg-stack"), extra_env={**E2E_ENV, **broker_env()}
    )
    with on_postgres(dataclasses.replace(config, postgres_admin_url=ADMIN_URL)) as stack:
        yield stack
    assert not _databases_of(stack)  # nothing left behind


def _databases_of(stack: Stack) -> list[str]:
    names = [stack.config.database_name(service) for service in stack.config.services]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s) ORDER BY datname", (names,)
        )
        return [row[0] for row in rows]


def test_each_service_keeps_its_data_in_its_own_postgresql_database(pg_stack: Stack) -> None:
    assert len(_databases_of(pg_stack)) == 4
    assert not list(pg_stack.config.data_dir.glob("*.db"))  # no SQLite file was made


def test_an_order_over_rest_confirms_charges_once_and_notifies(
    pg_stack: Stack, http: httpx.Client
) -> None:
    before = available(http, pg_stack, "KB-MECH")
    charged_before = payment_summary(http, pg_stack)["CHARGED"]
    body = order_body({"KB-MECH": 2, "CABLE-USBC": 1})
    url = f"{pg_stack.url('order')}/orders"
    answers = [http.post(url, json=body, headers={"Idempotency-Key": "pg-1"}) for _ in range(2)]
    order = answers[0].json()
    assert (answers[0].status_code, order["status"]) == (201, "CONFIRMED")
    assert answers[1].json()["id"] == order["id"]  # the retry is a replay
    assert available(http, pg_stack, "KB-MECH") == before - 2
    assert charge(http, pg_stack, order["id"]) == "CHARGED"
    assert payment_summary(http, pg_stack)["CHARGED"] == charged_before + 1
    assert notified(http, pg_stack, order["id"]) == ["order.confirmed"]
    # The order's row is in the order service's own PostgreSQL database.
    order_db = postgres.url_of(ADMIN_URL, pg_stack.config.database_name("order"))
    with psycopg.connect(order_db) as db:
        found = db.execute("SELECT status FROM orders WHERE id = %s", (order["id"],)).fetchone()
    assert found == ("CONFIRMED",)


def test_a_declined_payment_gives_the_stock_back(pg_stack: Stack, http: httpx.Client) -> None:
    before = available(http, pg_stack, "HEADSET")
    body = order_body({"HEADSET": 4}, token="tok_chargeDeclined")
    order = http.post(f"{pg_stack.url('order')}/orders", json=body).json()
    assert (order["status"], order["reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert available(http, pg_stack, "HEADSET") == before
    reservation = http.get(f"{pg_stack.url('inventory')}/reservations/{order['id']}").json()
    assert reservation["status"] == "RELEASED"


def test_an_order_over_the_broker_passes_every_outbox_and_inbox(pg_stack: Stack) -> None:
    """The broker style writes each step's event to its service's outbox and each handled
    message id to its inbox: all four on PostgreSQL here, end to end."""
    broker_helpers.require_broker(broker_helpers.broker_url(pg_stack))
    with broker_helpers.client(pg_stack) as broker:
        answer = broker.place_and_wait(broker_helpers.request("KB-MECH", 1))
    assert (answer.type, answer.data["order"]["status"]) == (ev.ORDER_CONFIRMED, "CONFIRMED")
    order_db = postgres.url_of(ADMIN_URL, pg_stack.config.database_name("order"))
    with psycopg.connect(order_db) as db:
        [(handled,)] = db.execute("SELECT count(*) FROM inbox").fetchall()
    assert handled >= 3  # the reservation, the charge and the notification's answer, at least
