"""table.py: the terminal's view of a results document."""

from __future__ import annotations

from typing import Any

from harness.bench.results_model import Results, StyleResult
from harness.bench.table import (
    audit_row,
    audit_table,
    capacity_table,
    cpu_table,
    operations_table,
    scenario_table,
    side_by_side,
)
from harness.vocabulary import AUDIT_COUNTS


def stats(count: int, per_s: float, p50: float | None, error_rate: float) -> dict[str, Any]:
    return {
        "count": count,
        "failures": round(count * error_rate),
        "error_rate": error_rate,
        "per_s": per_s,
        "mean_ms": p50,
        "p50_ms": p50,
        "p95_ms": None if p50 is None else p50 * 2,
        "p99_ms": None if p50 is None else p50 * 3,
        "max_ms": None if p50 is None else p50 * 4,
        "errors": {},
    }


def style(
    orders_per_s: float,
    order_p50_ms: float | None,
    calibration: dict[str, Any] | None,
    *,
    saturated: bool = False,
    warnings: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "operations": {
            "browse_catalog": stats(1200, 120.0, 4.2, 0.0),
            "order_completed": stats(300, orders_per_s, order_p50_ms, 0.0125),
        },
        "per_second": [],
        "summary": {
            "requests": 3000,
            "requests_per_s": 300.0,
            "orders_completed": 300,
            "orders_per_s": orders_per_s,
            "error_rate": 0.0125,
            "order_p50_ms": order_p50_ms,
            "order_p95_ms": None if order_p50_ms is None else 95.5,
            "order_p99_ms": None if order_p50_ms is None else 140.3,
            "order_max_ms": None if order_p50_ms is None else 812.0,
        },
        "calibration": calibration,
        "load_generator": {
            "cpu_s": 8.5,
            "cpu_cores": 0.85 if not saturated else 1.0,
            "processes": 1,
            "saturated": saturated,
            "warnings": list(warnings),
        },
    }


CALIBRATION = {
    "load_generator": {
        "cpu_s": 1.0,
        "cpu_cores": 0.2,
        "processes": 1,
        "saturated": False,
        "warnings": [],
    },
    "operation": "noop",
    "duration_s": 5.0,
    "per_s": 2500.0,
    "p50_ms": 0.4,
    "p99_ms": 1.2,
    "error_rate": 0.0,
    "order_ratio": 0.123,
}


RUN = {
    "id": "20261123-111259-1b0d",
    "started_at": "2026-11-23T11:13:02+00:00",
    "command": "orderflow bench",
    "model": "closed",
    "users": 5,
    "rate": None,
    "duration_s": 10.0,
    "calibration_s": 5.0,
    "processes": 1,
    "target": "127.0.0.1",
    "machine": {"cpus": 2, "python": "3.11.7", "platform": "Linux-x86_64"},
    "profile": "naive",
}


def checked(document: dict[str, Any]) -> Results:
    """The document as the tables read it: through the results model."""
    return Results.model_validate({"schema": "orderflow.bench/v1", "run": RUN, **document})


def document(capacity: dict[str, Any] | None = None) -> dict[str, Any]:
    styles = {
        "websocket": style(30.0, 41.3, CALIBRATION),
        "rest": style(
            25.5, 52.0, None, saturated=True, warnings=("load generator used 1.00 of 1 cores",)
        ),
        "broker": style(0.0, None, {**CALIBRATION, "order_ratio": None}),
    }
    found: dict[str, Any] = {"styles": styles}
    if capacity is not None:
        found["capacity"] = capacity
    return found


def rows(table: str) -> dict[str, list[str]]:
    """The table's cells by first column, headers and rule left out."""
    return {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:] if line}


def test_side_by_side_lists_the_styles_in_the_documents_order() -> None:
    lines = side_by_side(checked(document())).splitlines()
    assert lines[0].split()[0] == "style"
    assert set(lines[1]) == {"-", " "}
    assert [line.split()[0] for line in lines[2:5]] == ["websocket", "rest", "broker"]


def test_side_by_side_formats_the_numbers() -> None:
    websocket = rows(side_by_side(checked(document())))["websocket"]
    # req/s, orders/s, p50, p95, p99, max, errors %, ceiling, ratio, then "0.85 cores"
    assert websocket == [
        "300.0",
        "30.0",
        "41.3",
        "95.5",
        "140.3",
        "812.0",
        "1.25",
        "2500.0",
        "0.12",
        "0.85",
        "cores",
    ]


def test_side_by_side_shows_missing_values_as_a_dash() -> None:
    table = rows(side_by_side(checked(document())))
    assert table["rest"][-4:-2] == ["-", "-"]  # no calibration: neither ceiling nor ratio
    assert table["broker"][2:6] == ["-"] * 4  # no completed order: no order latency
    assert table["broker"][-3] == "-"  # a ceiling but no ratio


def test_side_by_side_marks_a_saturated_load_generator_and_lists_its_warnings() -> None:
    table = side_by_side(checked(document()))
    rest = next(line for line in table.splitlines() if line.startswith("rest "))
    websocket = next(line for line in table.splitlines() if line.startswith("websocket "))
    assert rest.endswith("1.00 cores!")
    assert not websocket.endswith("!")
    assert table.splitlines()[-1] == "rest: load generator used 1.00 of 1 cores"


def test_a_warning_of_the_noop_after_the_load_is_listed_as_its_own() -> None:
    found = document()
    saturated: dict[str, Any] = {"cpu_s": 1.0, "cpu_cores": 1.0, "processes": 1}
    saturated |= {"saturated": True, "warnings": ["used 1.00"]}
    after = {"duration_s": 5.0, "per_s": 2400.0, "error_rate": 0.0, "cpu_ms_per_call": None}
    found["styles"]["websocket"]["calibration"] = {
        **CALIBRATION,
        "after_load": {**after, "load_generator": saturated},
    }
    lines = side_by_side(checked(found)).splitlines()
    assert "websocket (no-op after the load): used 1.00" in lines


def test_a_ceiling_that_was_the_load_generators_limit_is_marked() -> None:
    found = document()
    found["styles"]["websocket"]["calibration"] = {**CALIBRATION, "load_generator_limited": True}
    assert rows(side_by_side(checked(found)))["websocket"][7] == "2500.0!"
    assert rows(side_by_side(checked(document())))["websocket"][7] == "2500.0"
    note = cpu_table(checked(with_cpu(found))).splitlines()[-1]
    assert note.startswith("ceiling marked ! (websocket): a Locust process ran near a full core")


NOT_COUNTED = {"rabbitmq": "not a process this bench started"}


def cpu(
    processes: dict[str, float | None], total: float | None, fraction: float | None
) -> dict[str, Any]:
    bound = (
        None
        if fraction is None
        else {
            "hops": 4.0,
            "noop_ms": 0.525,
            "transactions": 6,
            "transaction_ms": 0.21,
            "cpu_ms_per_order": 3.36,
        }
    )
    return {
        "orders": 300,
        "processes": processes,
        "total_ms": total,
        "not_attributed": NOT_COUNTED,
        "bound": bound,
        "bound_fraction": fraction,
    }


def with_cpu(found: dict[str, Any]) -> dict[str, Any]:
    measured = {"order": 2.61, "inventory": 1.27, "payment": 0.71, "notification": 0.7}
    found["styles"]["websocket"]["cpu"] = cpu({**measured, "locust": 1.16}, 6.45, 0.521)
    found["styles"]["rest"]["cpu"] = cpu({**dict.fromkeys(measured), "locust": 1.0}, 1.0, None)
    return found


def test_the_cpu_table_lists_each_process_the_total_the_bound_and_its_share() -> None:
    lines = cpu_table(checked(with_cpu(document()))).splitlines()
    assert lines[0] == "CPU-ms per completed order (the mix's browse and look-up included)"
    table = rows("\n".join(lines[1:]))
    assert table["websocket"] == [
        "2.61", "1.27", "0.71", "0.70", "1.16", "6.45", "0.525", "3.36", "52%",
    ]  # fmt: skip
    assert table["rest"] == ["-", "-", "-", "-", "1.00", "1.00", "-", "-", "-"]
    assert "broker" not in table  # a style without CPU figures has no row
    assert lines[-1] == "not counted: rabbitmq: not a process this bench started"


def test_a_private_brokers_cpu_has_a_column_and_is_no_longer_named_not_counted() -> None:
    found = with_cpu(document())
    websocket = found["styles"]["websocket"]["cpu"]
    websocket["processes"]["rabbitmq"] = 0.02  # idle: the websocket style sends it nothing
    websocket["not_attributed"] = {}
    found["styles"]["rest"]["cpu"]["not_attributed"] = {}
    lines = cpu_table(checked(found)).splitlines()
    assert lines[1].split()[:7] == [
        "style", "order", "inventory", "payment", "notification", "locust", "rabbitmq",
    ]  # fmt: skip
    assert rows("\n".join(lines[1:]))["websocket"][5] == "0.02"
    assert not any(line.startswith("not counted") for line in lines)


def test_a_run_without_cpu_figures_says_so() -> None:
    assert cpu_table(checked(document())) == "no CPU figures in this run"


def test_numbers_are_right_aligned_in_fixed_width_columns() -> None:
    lines = side_by_side(checked(document())).splitlines()[:5]
    header_end = lines[0].index("orders/s") + len("orders/s")
    assert [line[header_end - 4 : header_end] for line in lines[2:]] == ["30.0", "25.5", " 0.0"]


def test_the_operations_table_has_a_row_per_style_and_operation() -> None:
    lines = operations_table(checked(document())).splitlines()[2:]
    assert [line.split()[:2] for line in lines] == [
        [name, operation]
        for name in ("websocket", "rest", "broker")
        for operation in ("browse_catalog", "order_completed")
    ]
    assert lines[0].split()[2:] == ["1200", "120.0", "4.2", "8.4", "12.6", "16.8", "0.00"]
    assert lines[-1].split()[2:] == ["300", "0.0", "-", "-", "-", "-", "1.25"]


CAPACITY = {
    "slo_p99_ms": 250.0,
    "max_error_rate": 0.01,
    "step_s": 30.0,
    "styles": {
        "grpc": {
            "held_rate": 20.0,
            "steps": [
                {
                    "rate": 10.0,
                    "per_s": 9.9,
                    "p99_ms": 45.2,
                    "error_rate": 0.0,
                    "held": True,
                    "load_generator_saturated": False,
                },
                {
                    "rate": 20.0,
                    "per_s": 19.8,
                    "p99_ms": 120.0,
                    "error_rate": 0.0,
                    "held": True,
                    "load_generator_saturated": False,
                },
                {
                    "rate": 40.0,
                    "per_s": 31.0,
                    "p99_ms": 310.4,
                    "error_rate": 0.0,
                    "held": False,
                    "load_generator_saturated": False,
                },
            ],
        },
        "graphql": {
            "held_rate": None,
            "steps": [
                {
                    "rate": 10.0,
                    "per_s": 7.0,
                    "p99_ms": 90.0,
                    "error_rate": 0.025,
                    "held": False,
                    "load_generator_saturated": False,
                },
            ],
        },
    },
}


def test_the_capacity_table_lists_held_rates_and_steps() -> None:
    lines = capacity_table(checked(document(CAPACITY))).splitlines()
    assert lines[0] == "capacity: p99 <= 250 ms and errors below 1 %, 30 s per step"
    grpc, graphql = lines[3], lines[4]
    assert grpc.split()[:2] == ["grpc", "20"]
    assert grpc.endswith("10/s 45ms ok, 20/s 120ms ok, 40/s 310ms over SLO")
    assert graphql.split()[:3] == ["graphql", "none", "held"]
    assert graphql.endswith("10/s 90ms errors 2.50%")


def test_without_a_capacity_search_the_table_says_so() -> None:
    assert capacity_table(checked(document())) == "no capacity search in this run"


def audit(counts: dict[str, int]) -> dict[str, Any]:
    return {
        "counts": counts,
        "orders": {},
        "payments": {},
        "accepted": 10,
        "examples": {},
        "waited_s": 0.0,
    }


def scenario_result(counts: dict[str, int], errors: list[str], passed: bool) -> dict[str, Any]:
    order = {"count": 10, "success_ratio": 1.0, "p50_ms": 5.0, "p99_ms": 9.0}
    phase = {
        "from_s": 0.0,
        "to_s": 15.0,
        "count": 10,
        "success_ratio": 1.0,
        "p50_ms": 5.0,
        "p99_ms": 9.0,
        "order_success_ratio": 1.0,
        "orders_per_s": 1.0,
        "operations": {"order_completed": order},
    }
    fault = {
        "target": "payment",
        "kind": "crash",
        "params": {},
        "description": "payment crash at 15s for 15s",
        "planned_s": [15.0, 30.0],
        "began_s": 15.0,
        "ended_s": 31.0,
        "errors": errors,
    }
    broker = {
        "max_depth": {"payment": 7},
        "unreachable_s": 0,
        "dead_lettered": {"order": 3},
        "series": [],
        "poison_published": 0,
    }
    return {
        **style(1.0, 5.0, None),
        "audit": audit(counts),
        "scenario": {
            "faults": [fault],
            "phases": {"before": phase, "during": phase, "after": phase},
            "p99_inflation": {"order_completed": 1.0},
            "blast_radius": {"faulted": ["payment"], "operations": {}},
            "recovery_s": 2.0,
            "broker": broker,
            "expectations": [{"check": "lost == 0", "seen": 0.0, "passed": passed}],
        },
    }


def test_the_scenario_table_marks_broken_invariants_failed_checks_and_faults_not_as_planned() -> (
    None
):
    zero = dict.fromkeys(AUDIT_COUNTS, 0)
    document = {
        "scenario": {
            "name": "payment-outage",
            "description": "payment is down for 15 s",
            "file": "scenarios/payment-outage.yaml",
            "warmup_s": 5.0,
            "grace_s": 30.0,
            "faults": ["payment crash at 15s for 15s"],
            "stopped": {"style": "grpc", "error": "StartupFailed: order did not start"},
        },
        "styles": {
            "rest": scenario_result(zero, [], passed=True),
            "broker": scenario_result(
                {**zero, "stuck": 2, "duplicate_notifications": 4},
                ["end: payment was not ready within 60s"],
                passed=False,
            ),
        },
    }
    lines = [
        *audit_table(checked(document)).splitlines(),
        *scenario_table(checked(document)).splitlines(),
    ]
    assert "Scenario payment-outage: payment crash at 15s for 15s" in lines
    rest = next(line for line in lines if line.startswith("rest") and "met" in line)
    broker = next(line for line in lines if line.startswith("broker") and "FAILED" in line)
    assert "!" not in rest
    assert "2!" in broker and " 4 " in f"{broker} " and "4!" not in broker  # repeats: no mark
    isolation = next(line for line in lines if line.startswith("rest ") and "/" in line)
    assert "100.00/100.00/100.00" in isolation and isolation.split()[-2:] == ["7", "3"]
    assert lines[-2] == (
        "fault not as planned! broker: payment crash at 15s for 15s:"
        " end: payment was not ready within 60s"
    )
    assert lines[-1] == "stopped at grpc: StartupFailed: order did not start"


def test_the_audit_table_shows_a_dash_for_books_that_could_not_be_read() -> None:
    broken = {**style(1.0, 5.0, None), "audit": {"error": "ConnectError: refused"}}
    document = {"styles": {"rest": broken}}
    row = audit_table(checked(document)).splitlines()[-1]
    assert row.split() == ["rest", *["-"] * (len(AUDIT_COUNTS) + 1)]


def test_a_run_written_before_a_count_existed_shows_it_as_missing() -> None:
    older = {name: 0 for name in AUDIT_COUNTS if name != "missing_notifications"}
    row = audit_row(
        "rest", StyleResult.model_validate({**style(1.0, 5.0, None), "audit": audit(older)})
    )
    assert row[1 + AUDIT_COUNTS.index("missing_notifications")] == "-"
    assert row[1:-1].count("0") == len(AUDIT_COUNTS) - 1


def test_a_warning_every_styles_load_had_is_said_once() -> None:
    found = document()
    remote = "the users ran on 2 Locust workers started outside this bench"
    for result in found["styles"].values():
        result["load_generator"] = {**result["load_generator"], "warnings": [remote]}
    lines = side_by_side(checked(found)).splitlines()
    assert [line for line in lines if remote in line] == [f"every style: {remote}"]


def test_a_bound_that_priced_a_transport_at_a_stand_in_says_so() -> None:
    found = with_cpu(document())
    found["styles"]["websocket"]["cpu"]["bound"]["stand_ins"] = ["rest"]
    note = cpu_table(checked(found)).splitlines()[-1]
    assert note.startswith("bound of websocket: rest priced at websocket's own no-op")
    assert "bound of" not in cpu_table(checked(with_cpu(document())))


def test_the_noop_price_moving_across_the_load_is_said_per_style() -> None:
    found = with_cpu(document())
    calibration = found["styles"]["websocket"]["calibration"] = dict(CALIBRATION)  # not shared
    calibration["cpu_ms_per_call_before_load"] = {"server_ms": 0.2, "client_ms": 0.3}
    calibration["cpu_ms_per_call"] = {"server_ms": 0.19, "client_ms": 0.285}
    calibration["after_load"] = {
        "duration_s": 2.5,
        "per_s": 2600.0,
        "error_rate": 0.0,
        "load_generator": CALIBRATION["load_generator"],
        "cpu_ms_per_call": {"server_ms": 0.18, "client_ms": 0.27},
    }
    notes = cpu_table(checked(found)).splitlines()
    assert notes[-1].startswith("no-op price after the load vs before it: websocket -10% (")
    # A run without a no-op after the load (or one written before it existed) says nothing.
    assert "after the load" not in cpu_table(checked(with_cpu(document())))
