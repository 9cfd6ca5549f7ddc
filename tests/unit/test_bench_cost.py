"""harness/bench/cost.py: CPU-ms per order, the no-op's cost, the bound and its share."""

from __future__ import annotations

from typing import Any

import pytest

from harness.bench.cost import (
    CONFIRMED_SHARE,
    PATHS,
    Hops,
    OrderPath,
    bound,
    cpu_section,
    fraction_of_bound,
    mean_price,
    mixed,
    noop_cost,
    noop_prices,
    per_order,
    price_drift,
    reprice,
)
from harness.bench.cpu import Reading
from harness.load.mix import DECLINED_SHARE, OUT_OF_STOCK_SHARE
from harness.vocabulary import RUNNABLE

SPENT: Reading = {
    "order": 2.0,
    "inventory": 1.0,
    "payment": 0.5,
    "notification": 0.5,
    "locust": 1.0,
}


def test_cpu_per_order_is_each_process_over_the_orders_and_the_total_their_sum() -> None:
    found = per_order(SPENT, orders=1000)
    assert found["processes"] == {
        "order": 2.0,
        "inventory": 1.0,
        "payment": 0.5,
        "notification": 0.5,
        "locust": 1.0,
    }
    assert found["total_ms"] == 5.0 and found["orders"] == 1000


def test_a_process_not_attributed_is_left_out_of_the_total_not_counted_as_zero() -> None:
    found = per_order({**SPENT, "order": None}, orders=1000)
    assert found["processes"]["order"] is None
    assert found["total_ms"] == 3.0


def test_without_orders_there_is_no_figure_per_order() -> None:
    found = per_order(SPENT, orders=0)
    assert set(found["processes"].values()) == {None} and found["total_ms"] is None


def test_the_noop_costs_the_services_server_side_and_the_generator_client_side() -> None:
    spent = {"order": 0.3, "inventory": 0.05, "payment": 0.05, "notification": 0.1, "locust": 1.5}
    assert noop_cost(spent, noops=5000) == {"server_ms": 0.1, "client_ms": 0.3}


def test_the_server_side_is_unknown_if_any_service_was_not_measured() -> None:
    spent = {**SPENT, "payment": None}
    assert noop_cost(spent, noops=100) == {"server_ms": None, "client_ms": 10.0}
    assert noop_cost(spent, noops=0) == {"server_ms": None, "client_ms": None}


REST_NOOP = {"server_ms": 0.3, "client_ms": 0.2}
WS_NOOP = {"server_ms": 0.1, "client_ms": 0.1}
BROKER_NOOP = {"server_ms": 0.0, "client_ms": 0.4}
# Transactions of an average order: confirmed 7, declined 9, sold out 5 (orchestrated).
ORCHESTRATED_TRANSACTIONS = CONFIRMED_SHARE * 7 + DECLINED_SHARE * 9 + OUT_OF_STOCK_SHARE * 5
# Statuses (pushes, stream events) of an average order: confirmed 4, declined 3, sold out 2.
STATUSES = CONFIRMED_SHARE * 4 + DECLINED_SHARE * 3 + OUT_OF_STOCK_SHARE * 2


def test_the_outcomes_of_the_mix_weigh_an_order_by_their_shares() -> None:
    a = OrderPath({"rest": Hops(calls=2)}, transactions=4)
    b = OrderPath({"rest": Hops(calls=4), "broker": Hops(messages=2)}, transactions=8)
    found = mixed([(0.75, a), (0.25, b)])
    assert found.hops == {"rest": Hops(calls=2.5), "broker": Hops(messages=0.5)}
    assert found.transactions == 5


def test_a_rest_order_is_its_calls_at_the_noop_plus_its_transactions() -> None:
    found = bound("rest", {"rest": REST_NOOP}, transaction_ms=0.02)
    assert found is not None
    # The mix's 2.5 client calls, the saga's 2 on average (reserve and charge; a decline adds a
    # release, a sold-out item leaves one), the notification: all REST.
    calls = 2.5 + CONFIRMED_SHARE * 2 + DECLINED_SHARE * 3 + OUT_OF_STOCK_SHARE * 1 + 1
    assert found["transports"] == {
        "rest": {
            "calls": pytest.approx(calls),
            "messages": 0,
            "stream_events": 0,
            "noop_ms": 0.5,
            "priced_by": "rest",
        }
    }
    assert found["transactions"] == pytest.approx(ORCHESTRATED_TRANSACTIONS)
    assert found["cpu_ms_per_order"] == pytest.approx(
        calls * 0.5 + ORCHESTRATED_TRANSACTIONS * 0.02, abs=1e-3
    )
    assert found["noop_ms"] == 0.5 and found["stand_ins"] == []


def test_websocket_pays_its_pushes_and_the_notification_at_rest_price() -> None:
    found = bound("websocket", {"websocket": WS_NOOP, "rest": REST_NOOP}, transaction_ms=0.02)
    assert found is not None
    ws, rest = found["transports"]["websocket"], found["transports"]["rest"]
    assert ws["calls"] == pytest.approx(4.5) and ws["messages"] == pytest.approx(STATUSES)
    assert rest["calls"] == 1 and rest["priced_by"] == "rest"
    # A push is one message one way: half a no-op, both ends.
    expected = 4.5 * 0.2 + STATUSES * 0.1 + 1 * 0.5 + ORCHESTRATED_TRANSACTIONS * 0.02
    assert found["cpu_ms_per_order"] == pytest.approx(expected, abs=1e-3)
    assert found["noop_ms"] == 0.2


def test_styles_without_a_stream_send_no_messages() -> None:
    for style in ("grpc", "graphql"):
        found = bound(style, {style: WS_NOOP, "rest": REST_NOOP}, transaction_ms=0.0)
        assert found is not None
        assert found["transports"][style]["messages"] == 0
        assert found["cpu_ms_per_order"] == pytest.approx(4.5 * 0.2 + 0.5, abs=1e-3)


def test_a_transport_not_calibrated_is_priced_at_the_styles_own_noop_and_said() -> None:
    found = bound("websocket", {"websocket": WS_NOOP}, transaction_ms=0.0)
    assert found is not None and found["stand_ins"] == ["rest"]
    assert found["transports"]["rest"]["priced_by"] == "websocket"
    assert found["cpu_ms_per_order"] == pytest.approx(5.5 * 0.2 + STATUSES * 0.1, abs=1e-3)


def test_the_broker_pays_half_a_noop_per_publish_and_delivery_and_http_for_the_front() -> None:
    prices = {"broker": BROKER_NOOP, "rest": REST_NOOP}
    found = bound("broker", prices, transaction_ms=0.02)
    assert found is not None
    broker, rest = found["transports"]["broker"], found["transports"]["rest"]
    # publishes + deliveries: confirmed 4 + 5, declined 5 + 6, sold out 3 + 3.
    messages = CONFIRMED_SHARE * 9 + DECLINED_SHARE * 11 + OUT_OF_STOCK_SHARE * 6
    assert broker["messages"] == pytest.approx(messages, abs=1e-3) and broker["calls"] == 0
    # Browse and half a look-up, the place and the status stream over HTTP; one event a status.
    assert rest["calls"] == 3.5 and rest["stream_events"] == pytest.approx(STATUSES, abs=1e-3)
    transactions = CONFIRMED_SHARE * 10 + DECLINED_SHARE * 12 + OUT_OF_STOCK_SHARE * 7
    assert found["transactions"] == pytest.approx(transactions, abs=1e-3)
    # A stream event costs half the no-op's server side: the client reads the stream whole.
    expected = messages * 0.2 + 3.5 * 0.5 + STATUSES * 0.15 + transactions * 0.02
    assert found["cpu_ms_per_order"] == pytest.approx(expected, abs=2e-3)


def test_placing_over_amqp_is_three_messages_more_and_no_http_place() -> None:
    prices = {"broker": BROKER_NOOP, "rest": REST_NOOP}
    front, amqp = bound("broker", prices, 0.0), bound("broker-amqp", prices, 0.0)
    assert front is not None and amqp is not None
    assert amqp["transports"]["broker"]["messages"] == pytest.approx(
        front["transports"]["broker"]["messages"] + 3, abs=1e-3
    )
    assert amqp["transports"]["rest"] == {
        **front["transports"]["rest"],
        "calls": 1.5,
        "stream_events": 0,
    }


def test_rest_sse_places_and_streams_over_rest() -> None:
    found = bound("rest-sse", {"rest": REST_NOOP}, 0.0)
    plain = bound("rest", {"rest": REST_NOOP}, 0.0)
    assert found is not None and plain is not None
    assert found["transports"]["rest"]["calls"] == pytest.approx(
        plain["transports"]["rest"]["calls"] + 1
    )
    assert found["transports"]["rest"]["stream_events"] == pytest.approx(STATUSES, abs=1e-3)


def test_every_runnable_style_has_an_order_path() -> None:
    assert set(PATHS) == set(RUNNABLE)


def test_no_bound_without_both_sides_of_the_noop() -> None:
    assert bound("grpc", {"grpc": {"server_ms": None, "client_ms": 0.3}}, 0.02) is None
    assert bound("grpc", {"rest": REST_NOOP}, 0.02) is None


def test_the_styles_own_calibration_prices_its_transport_before_a_variants() -> None:
    results: dict[str, dict[str, Any]] = {
        "rest-sse": {"calibration": {"cpu_ms_per_call": {"server_ms": 9.0, "client_ms": 9.0}}},
        "rest": {"calibration": {"cpu_ms_per_call": REST_NOOP}},
        "broker-amqp": {"calibration": {"cpu_ms_per_call": BROKER_NOOP}},
        "grpc": {"calibration": None},
    }
    assert noop_prices(results) == {"rest": REST_NOOP, "broker": BROKER_NOOP}


def test_a_finished_run_is_bound_again_with_every_transports_noop() -> None:
    results: dict[str, dict[str, Any]] = {
        "websocket": {"calibration": {"cpu_ms_per_call": WS_NOOP}},
        "rest": {"calibration": {"cpu_ms_per_call": REST_NOOP}},
    }
    for name, result in results.items():  # as the run went: REST not calibrated yet
        noop = result["calibration"]["cpu_ms_per_call"]
        result["cpu"] = cpu_section(name, SPENT, 1000, noop, 0.02, {})
    assert results["websocket"]["cpu"]["bound"]["stand_ins"] == ["rest"]
    reprice(results, 0.02)
    after = results["websocket"]["cpu"]
    assert after["bound"]["stand_ins"] == []
    assert after["bound"] == bound("websocket", {"websocket": WS_NOOP, "rest": REST_NOOP}, 0.02)
    assert after["bound_fraction"] == pytest.approx(after["bound"]["cpu_ms_per_order"] / 5.0)


def test_the_noop_is_priced_at_the_mean_of_before_and_after_the_load() -> None:
    before = {"server_ms": 0.4, "client_ms": 0.5}
    after = {"server_ms": 0.3, "client_ms": 0.45}
    assert mean_price(before, after) == {"server_ms": 0.35, "client_ms": 0.475}
    assert mean_price(before, None) == before  # nothing ran after: the price before
    # A side not measured after the load keeps its price from before.
    assert mean_price(before, {"server_ms": None, "client_ms": 0.7}) == {
        "server_ms": 0.4,
        "client_ms": 0.6,
    }


def test_the_drift_is_the_whole_price_after_over_before() -> None:
    before = {"server_ms": 0.4, "client_ms": 0.6}
    assert price_drift(before, {"server_ms": 0.35, "client_ms": 0.55}) == pytest.approx(-0.1)
    assert price_drift(before, {"server_ms": 0.5, "client_ms": 0.6}) == pytest.approx(0.1)
    assert price_drift(before, {"server_ms": None, "client_ms": 0.6}) is None
    assert price_drift(None, before) is None
    assert price_drift({"server_ms": 0.0, "client_ms": 0.0}, before) is None


def test_a_repriced_run_bounds_each_style_at_its_mean_noop() -> None:
    before, after = {"server_ms": 0.5, "client_ms": 0.5}, {"server_ms": 0.3, "client_ms": 0.3}
    results: dict[str, dict[str, Any]] = {"rest": {"calibration": {"cpu_ms_per_call": before}}}
    results["rest"]["cpu"] = cpu_section("rest", SPENT, 1000, before, 0.02, {})
    results["rest"]["calibration"]["cpu_ms_per_call"] = mean_price(before, after)
    reprice(results, 0.02)
    assert results["rest"]["cpu"]["bound"]["noop_ms"] == pytest.approx(0.8)
    assert results["rest"]["cpu"]["bound"] == bound(
        "rest", {"rest": {"server_ms": 0.4, "client_ms": 0.4}}, 0.02
    )


def test_the_fraction_is_the_bound_over_the_measured_cost() -> None:
    assert fraction_of_bound(2.0, 8.0) == 0.25
    assert fraction_of_bound(None, 8.0) is None
    assert fraction_of_bound(2.0, None) is None and fraction_of_bound(2.0, 0.0) is None


def test_the_cpu_section_puts_it_together() -> None:
    section = cpu_section(
        "websocket",
        SPENT,
        1000,
        {"server_ms": 0.1, "client_ms": 0.3},
        0.02,
        {"rabbitmq": "shared"},
    )
    assert section["total_ms"] == 5.0
    assert section["total_ms"] == sum(section["processes"].values())
    # Everything at the WebSocket no-op (REST not calibrated): 5.5 calls, the pushes at half.
    expected = 5.5 * 0.4 + STATUSES * 0.2 + ORCHESTRATED_TRANSACTIONS * 0.02
    assert section["bound"]["cpu_ms_per_order"] == pytest.approx(expected, abs=1e-3)
    assert section["bound_fraction"] == pytest.approx(expected / 5.0, abs=1e-3)
    assert section["not_attributed"] == {"rabbitmq": "shared"}
    without = cpu_section("websocket", SPENT, 1000, None, 0.02, {})
    assert without["bound"] is None and without["bound_fraction"] is None
