"""The audit's checks over what the stores hold (the stores' HTTP views are tested with each
service, and the whole audit end to end in tests/e2e/test_scenarios.py)."""

from __future__ import annotations

import httpx
import pytest

from harness.audit import Books, Order, audit_rows, check, count_requests

STOCK_OK = {"KB-MECH": {"initial": 10, "available": 8, "held": 2}}


def books(**changes: object) -> Books:
    fields: dict[str, object] = {
        "orders": [
            Order("o1", "CONFIRMED", None, "rest", "k1", "DONE"),
            Order("o2", "CANCELLED", "PAYMENT_DECLINED", "rest", "k2", "DONE"),
        ],
        "confirmed_units": {"KB-MECH": 2},
        "payments": [("o1", "CHARGED", 500), ("o2", "DECLINED", 300)],
        "stock": STOCK_OK,
        "notification_repeats": 0,
        "told": {"o1": "order.confirmed", "o2": "order.cancelled"},
    }
    fields.update(changes)
    return Books(**fields)  # type: ignore[arg-type]


def test_books_that_add_up_give_every_count_zero() -> None:
    found = check(books(), accepted=["k1", "k2"])
    assert set(found["counts"].values()) == {0}
    assert found["orders"] == {"CONFIRMED/-": 1, "CANCELLED/PAYMENT_DECLINED": 1}
    assert found["payments"] == {"CHARGED": 1, "DECLINED": 1}
    assert (found["accepted"], found["examples"]) == (2, {})


def test_an_accepted_request_without_an_order_is_lost() -> None:
    found = check(books(), accepted=["k1", "k2", "k3"])
    assert found["counts"]["lost"] == 1
    assert found["examples"]["lost"] == ["request k3 left no order"]


def test_an_order_not_finished_after_the_grace_is_stuck() -> None:
    stuck = [
        Order("o1", "CONFIRMED", None, "rest", "k1", "DONE"),
        Order("o3", "PAYING", None, "rest", None, "RUNNING"),
        Order("o4", "CANCELLED", "PAYMENT_FAILED", "rest", None, "COMPENSATING"),  # owes stock
    ]
    found = check(books(orders=stuck), accepted=["k1"])
    assert found["counts"]["stuck"] == 2
    assert found["examples"]["stuck"] == [
        "order o3 is PAYING (saga RUNNING)",
        "order o4 is CANCELLED (saga COMPENSATING)",
    ]


def test_money_kept_for_an_order_that_is_not_confirmed_is_an_unrefunded_charge() -> None:
    payments = [("o1", "CHARGED", 500), ("o2", "CHARGED", 300), ("o9", "CHARGED", 100)]
    found = check(books(payments=payments), accepted=["k1", "k2"])
    assert found["counts"]["unrefunded_charges"] == 2
    assert found["examples"]["unrefunded_charges"] == [
        "order o2 is CANCELLED but kept 300 cents",
        "order o9 is missing but kept 100 cents",
    ]
    refunded = [("o1", "CHARGED", 500), ("o2", "REFUNDED", 300)]
    assert check(books(payments=refunded), ["k1", "k2"])["counts"]["unrefunded_charges"] == 0


def test_two_payments_for_one_order_are_a_double_charge() -> None:
    payments = [("o1", "CHARGED", 500), ("o1", "CHARGED", 500), ("o2", "DECLINED", 300)]
    assert check(books(payments=payments), ["k1", "k2"])["counts"]["double_charges"] == 1


def test_stock_must_be_conserved_and_match_the_confirmed_orders() -> None:
    leaked = {"KB-MECH": {"initial": 10, "available": 7, "held": 2}}
    found = check(books(stock=leaked), ["k1", "k2"])
    assert found["examples"]["stock_not_conserved"] == [
        "KB-MECH: initial 10 != available 7 + held 2"
    ]
    held_for_nobody = check(books(confirmed_units={"KB-MECH": 1}), ["k1", "k2"])
    assert held_for_nobody["examples"]["stock_not_conserved"] == [
        "KB-MECH: 2 units held, 1 in confirmed orders"
    ]


def test_repeats_that_reached_the_notification_service_are_counted() -> None:
    assert (
        check(books(notification_repeats=3), ["k1", "k2"])["counts"]["duplicate_notifications"] == 3
    )


def test_an_order_confirmed_without_a_charge_that_stands_is_unpaid() -> None:
    refunded = [("o1", "REFUNDED", 500), ("o2", "DECLINED", 300)]
    found = check(books(payments=refunded), ["k1", "k2"])
    assert found["counts"]["unpaid_confirmed"] == 1
    assert found["examples"]["unpaid_confirmed"] == ["order o1 is CONFIRMED without a charge"]
    assert check(books(payments=[]), ["k1", "k2"])["counts"]["unpaid_confirmed"] == 1


def test_a_finished_order_whose_customer_was_not_told_is_a_missing_notification() -> None:
    found = check(books(told={"o1": "order.confirmed"}), ["k1", "k2"])
    assert found["counts"]["missing_notifications"] == 1
    assert found["examples"]["missing_notifications"] == [
        "order o2 is CANCELLED, its customer was told nothing"
    ]
    wrong = check(books(told={"o1": "order.cancelled", "o2": "order.cancelled"}), ["k1", "k2"])
    assert wrong["examples"]["missing_notifications"] == [
        "order o1 is CONFIRMED, its customer was told order.cancelled"
    ]


def test_an_order_still_in_flight_owes_no_notification_yet() -> None:
    in_flight = Order("o3", "CANCELLED", "PAYMENT_FAILED", "rest", "k3", "COMPENSATING")
    orders = [*books().orders, in_flight]
    counts = check(books(orders=orders), ["k1", "k2", "k3"])["counts"]
    assert (counts["stuck"], counts["missing_notifications"]) == (1, 0)


def test_the_ledger_counts_lost_duplicated_and_stuck_requests_by_the_same_rules() -> None:
    done = Order("o1", "CONFIRMED", None, "broker", None, "DONE")
    twice = [
        Order("o2", "CONFIRMED", None, "broker", None, "DONE"),
        Order("o3", "CANCELLED", "PAYMENT_DECLINED", "broker", None, "COMPENSATING"),
    ]
    ledger = count_requests({"c1": [done], "c2": twice, "c3": []})
    assert (ledger.requested, ledger.lost, ledger.missing) == (3, 1, ["c3"])
    assert (ledger.duplicated, ledger.stuck) == (1, 1)  # a decided order owing stock is stuck
    assert ledger.problems == [
        "c3: no order",
        "c2: 2 orders",
        "order o3 is CANCELLED (saga COMPENSATING)",
    ]
    assert ledger.outcomes == {"CONFIRMED/-": 2, "CANCELLED/PAYMENT_DECLINED": 1}
    assert not ledger.sound


def test_a_ledger_of_finished_orders_one_per_request_is_clean() -> None:
    ledger = count_requests({"c1": [Order("o1", "REJECTED", "OUT_OF_STOCK", "rest", None, "DONE")]})
    assert ledger.clean, ledger.summary()


def paged_view(rows: list[list[str]], limit: int) -> httpx.MockTransport:
    """A service's `GET /audit` as the services answer it: by order id, `limit` rows a page."""

    def answer(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        left = [row for row in rows if after is None or row[0] > after]
        page = left[:limit]
        more = len(left) > limit
        return httpx.Response(200, json={"told": page, "next_after": page[-1][0] if more else None})

    return httpx.MockTransport(answer)


def test_the_audit_reads_every_page_of_a_view() -> None:
    rows = [[f"o{n:03}", "order.confirmed"] for n in range(7)]
    with httpx.Client(transport=paged_view(rows, limit=3)) as http:
        assert audit_rows(http, "http://notification", "told") == rows


def test_a_view_whose_pages_do_not_move_forward_is_an_error_not_a_loop() -> None:
    def stuck(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"told": [["o1", "x"]], "next_after": "o1"})

    with (
        httpx.Client(transport=httpx.MockTransport(stuck)) as http,
        pytest.raises(RuntimeError, match="the same page"),
    ):
        audit_rows(http, "http://notification", "told")
