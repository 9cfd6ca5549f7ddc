"""The takeover watch (harness/scenarios/takeover.py) on the order service's real schema in
PostgreSQL: what a killed replica left is its claimed open sagas (every open order in the broker
style), and the recovery ends when the last of them is done."""

from __future__ import annotations

import time

import psycopg

from harness.scenarios.takeover import TakeoverWatch
from services.order.store import OrderStore

NOW = "2026-01-01T00:00:00+00:00"


def insert(url: str, order_id: str, saga_state: str, claimed_by: str | None, style: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO orders (id, customer_id, status, payment_token, fingerprint, style,"
            " saga_state, created_at, updated_at, claimed_by, claimed_until)"
            " VALUES (%s, 'c', 'PENDING', 'tok', 'f', %s, %s, %s, %s, %s, 0)",
            (order_id, style, saga_state, NOW, NOW, claimed_by),
        )


def finish(url: str, order_id: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("UPDATE orders SET saga_state = 'DONE' WHERE id = %s", (order_id,))


def test_the_killed_replicas_claimed_sagas_are_watched_until_done(postgres_url: str) -> None:
    OrderStore.open(postgres_url).close()  # the order service's schema
    insert(postgres_url, "left-1", "RUNNING", "order-2", "rest")
    insert(postgres_url, "left-2", "COMPENSATING", "order-2", "rest")
    insert(postgres_url, "others", "RUNNING", "order-1", "rest")
    insert(postgres_url, "over", "DONE", "order-2", "rest")
    watch = TakeoverWatch(postgres_url, "rest")
    watch.killed("order-2")
    assert sorted(watch.takeovers[0].left) == ["left-1", "left-2"]
    finish(postgres_url, "left-1")
    time.sleep(0.5)
    assert watch.takeovers[0].finished_at is None  # one is still open
    finish(postgres_url, "left-2")
    deadline = time.monotonic() + 5
    while watch.takeovers[0].finished_at is None and time.monotonic() < deadline:
        time.sleep(0.1)
    watch.stop()
    (found,) = watch.section(watch.takeovers[0].killed_at)
    assert found["replica"] == "order-2" and found["left"] == 2 and found["still_open"] == 0
    assert 0.5 <= found["recovery_s"] < 5


def test_in_the_broker_style_every_open_order_is_left_and_one_never_done_is_counted(
    postgres_url: str,
) -> None:
    OrderStore.open(postgres_url).close()
    insert(postgres_url, "a", "RUNNING", None, "broker")
    insert(postgres_url, "b", "RUNNING", None, "broker")
    watch = TakeoverWatch(postgres_url, "broker")
    watch.killed("order-2")
    finish(postgres_url, "a")
    time.sleep(0.5)
    watch.stop()
    (found,) = watch.section(0.0)
    assert (found["left"], found["recovery_s"], found["still_open"]) == (2, None, 1)


def test_a_kill_that_left_nothing_has_no_recovery_time(postgres_url: str) -> None:
    OrderStore.open(postgres_url).close()
    watch = TakeoverWatch(postgres_url, "grpc")
    watch.killed("order-1")
    watch.stop()
    assert watch.section(0.0)[0]["left"] == 0 and watch.section(0.0)[0]["recovery_s"] is None
