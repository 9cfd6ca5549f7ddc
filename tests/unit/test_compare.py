"""`orderflow compare`: A, B and the change for every style both ran (B/A for rates and
latencies, points for percentages, differences for counts and seconds), what is better or
worse, and a warning for each way the two runs are less comparable than they look."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from harness.report import load_run
from harness.report.cells import BAD, GOOD, Cell
from harness.report.compare import DIFFERENCE, POINTS, RATIO, Comparison, change, compare
from harness.report.medians import medians
from tests.unit.report_documents import changed, plain_document, scenario_document, write_folder


def compared(tmp_path: Path, a: dict[str, Any], b: dict[str, Any]) -> Comparison:
    return compare(
        load_run(write_folder(tmp_path / "a", a)), load_run(write_folder(tmp_path / "b", b))
    )


def row(found: Comparison, style: str, metric: str) -> tuple[str, str, str, Cell]:
    for cells in found.changes.rows:
        if (cells[0].text, cells[1].text) == (style, metric):
            return cells[2].text, cells[3].text, cells[4].text, cells[4]
    raise AssertionError(f"no row {style} {metric}")


@pytest.mark.parametrize(
    ("kind", "a", "b", "text", "delta"),
    [
        (RATIO, 40.0, 60.0, "x1.50", 1.5),
        (RATIO, 0.0, 5.0, "-", None),  # no ratio to nothing
        (RATIO, None, 5.0, "-", None),
        (POINTS, 0.9950, 0.8, "-19.50 pts", pytest.approx(-19.5)),
        (DIFFERENCE, 0, 3, "+3", 3),
        (DIFFERENCE, 4.0, 1.5, "-2.5", -2.5),
        (DIFFERENCE, 2, 2, "0", 0),
        (DIFFERENCE, 2, None, "-", None),
    ],
)
def test_each_kind_of_change(
    kind: str, a: float | None, b: float | None, text: str, delta: object
) -> None:
    assert change(kind, a, b) == (text, delta)


def test_a_change_that_matters_is_marked_better_or_worse(tmp_path: Path) -> None:
    a = plain_document()
    b = changed(a, "rest", orders_per_s=4.0, order_p99_ms=120.0, order_p50_ms=41.0)
    b = changed(b, "broker", error_rate=0.05)
    b["styles"]["broker"]["audit"]["counts"].update(lost=2, duplicate_notifications=5)
    found = compared(tmp_path, a, b)
    assert row(found, "rest", "orders/s")[:3] == ("2.0", "4.0", "x2.00")
    assert row(found, "rest", "orders/s")[3].mark == GOOD  # twice the orders
    assert row(found, "rest", "order p99 ms")[3] == Cell("x3.00", BAD)  # three times as slow
    assert row(found, "rest", "order p50 ms")[3] == Cell("x1.02")  # noise: not marked
    assert row(found, "broker", "errors %")[:3] == ("0.00", "5.00", "+5.00 pts")
    assert row(found, "broker", "errors %")[3].mark == BAD
    assert row(found, "broker", "lost")[3] == Cell("+2", BAD)
    # Recognised repeats: a count to see, no verdict either way.
    assert row(found, "broker", "duplicate_notifications")[3] == Cell("+5")


def test_fewer_errors_and_a_faster_p99_are_better(tmp_path: Path) -> None:
    a = changed(plain_document(), "rest", error_rate=0.2, order_p99_ms=300.0)
    b = changed(plain_document(), "rest", error_rate=0.01, order_p99_ms=100.0)
    found = compared(tmp_path, a, b)
    assert row(found, "rest", "errors %")[3] == Cell("-19.00 pts", GOOD)
    assert row(found, "rest", "order p99 ms")[3] == Cell("x0.33", GOOD)


def test_two_scenario_runs_compare_their_failure_isolation(tmp_path: Path) -> None:
    a = scenario_document()
    b = copy.deepcopy(a)
    rest = b["styles"]["rest"]["scenario"]
    rest["phases"]["during"]["order_success_ratio"] = 0.8
    rest["p99_inflation"]["order_completed"] = 0.5
    rest["recovery_s"] = 4.0
    found = compared(tmp_path, a, b)
    assert row(found, "rest", "orders ok % during") == (
        "0.00",
        "80.00",
        "+80.00 pts",
        Cell("+80.00 pts", GOOD),
    )
    assert row(found, "rest", "order p99 inflation")[:3] == ("1.0", "0.5", "x0.50")
    assert row(found, "rest", "recovery s")[2:] == ("+4", Cell("+4", BAD))
    assert row(found, "broker", "order p99 inflation")[:3] == ("22.5", "22.5", "x1.00")


def test_a_plain_run_has_no_scenario_rows(tmp_path: Path) -> None:
    found = compared(tmp_path, plain_document(), scenario_document())
    metrics = {cells[1].text for cells in found.changes.rows}
    assert "orders/s" in metrics and "lost" in metrics
    assert not metrics & {"orders ok % during", "order p99 inflation", "recovery s"}


def test_the_same_kind_of_run_warns_of_nothing(tmp_path: Path) -> None:
    assert compared(tmp_path, scenario_document(), scenario_document()).warnings == []


def test_runs_of_different_kinds_scenarios_loads_and_styles_are_warned_of(
    tmp_path: Path,
) -> None:
    plain = plain_document(("rest", "grpc"))
    found = compared(tmp_path / "kind", plain, scenario_document())
    assert found.warnings[0] == (
        "the runs differ in kind: A is a plain bench run, B a scenario payment-outage run"
    )
    assert found.warnings[1].startswith(
        "the load differs: A closed model, 5 users, 14 s per style, after a 2 s no-op calibration"
    )
    assert found.warnings[2:] == [
        "only A ran grpc: not compared",
        "only B ran broker: not compared",
    ]
    assert found.styles == ["rest"]

    other = compared(tmp_path / "names", scenario_document(), scenario_document("broker-outage"))
    assert other.warnings == [
        "the runs differ in kind: A is a scenario payment-outage run, "
        "B a scenario broker-outage run"
    ]

    more_users = plain_document()
    more_users["run"]["users"] = 50
    load = compared(tmp_path / "load", plain_document(), more_users)
    assert load.warnings == [
        "the load differs: A closed model, 5 users, 14 s per style, after a 2 s no-op "
        "calibration, 1 Locust process; B closed model, 50 users, 14 s per style, after a 2 s "
        "no-op calibration, 1 Locust process"
    ]


def test_another_store_or_time_scale_is_warned_of_as_medians_does(tmp_path: Path) -> None:
    """compare and medians read what runs must share from one list (harness/report/alike.py)."""
    replicated = scenario_document()
    replicated["run"].update(store="postgres", replicas=2)
    replicated["scenario"]["time_scale"] = 0.5
    expected = [
        "the scenario's times were scaled x1 in A, x0.5 in B",
        "the runs differ in store: A SQLite, 1 replica per service; "
        "B PostgreSQL, 2 replicas per service",
    ]
    assert compared(tmp_path / "compare", scenario_document(), replicated).warnings == expected
    folders = [
        write_folder(tmp_path / name, document)
        for name, document in (("a", scenario_document()), ("b", replicated))
    ]
    alike = medians([load_run(folder) for folder in folders])
    assert alike.warnings == [
        "the runs differ in time scale: x1; x0.5",
        "the runs differ in store: SQLite, 1 replica per service; "
        "PostgreSQL, 2 replicas per service",
    ]


def test_a_private_broker_against_the_machines_is_warned_of_by_both(tmp_path: Path) -> None:
    """With a private node RabbitMQ's CPU is in the totals; with the machine's it is not."""
    private = plain_document()
    private["run"].update(store="sqlite", replicas=1, broker="private")
    shared = plain_document()
    shared["run"].update(store="sqlite", replicas=1, broker="shared")
    expected = (
        "the machine's RabbitMQ (its CPU not counted); a private RabbitMQ node (its CPU counted)"
    )
    found = compared(tmp_path / "compare", shared, private).warnings
    assert found == [
        "the runs differ in broker: A the machine's RabbitMQ (its CPU not counted); "
        "B a private RabbitMQ node (its CPU counted)"
    ]
    folders = [
        write_folder(tmp_path / name, document)
        for name, document in (("a", shared), ("b", private))
    ]
    alike = medians([load_run(folder) for folder in folders])
    assert alike.warnings == [f"the runs differ in broker: {expected}"]


def test_a_different_profile_is_no_warning_but_shows_in_the_runs_table(tmp_path: Path) -> None:
    resilient = scenario_document()
    resilient["run"]["profile"] = "resilient"
    found = compared(tmp_path, scenario_document(), resilient)
    assert found.warnings == []
    profile = next(cells for cells in found.runs.rows if cells[0].text == "profile")
    assert [cell.text for cell in profile] == ["profile", "naive", "resilient"]


def test_a_run_that_never_recovered_is_marked_worse(tmp_path: Path) -> None:
    a = scenario_document()
    a["styles"]["rest"]["scenario"]["recovery_s"] = 0.0
    b = copy.deepcopy(a)
    b["styles"]["rest"]["scenario"]["recovery_s"] = None  # faults, and no recovery by the end
    assert row(compared(tmp_path / "1", a, b), "rest", "recovery s") == (
        "0",
        "never",
        "never recovered",
        Cell("never recovered", BAD),
    )
    back = row(compared(tmp_path / "2", b, a), "rest", "recovery s")
    assert back[3] == Cell("recovered", GOOD)
    assert row(compared(tmp_path / "3", b, b), "rest", "recovery s")[2] == "0"


def test_without_faults_no_recovery_is_nothing_to_compare(tmp_path: Path) -> None:
    a = scenario_document()
    for result in a["styles"].values():
        result["scenario"]["recovery_s"] = None
        result["scenario"]["phases"].pop("during")
    assert row(compared(tmp_path, a, a), "rest", "recovery s")[:3] == ("-", "-", "-")


def test_cpu_per_order_and_the_fraction_of_the_bound_are_compared(tmp_path: Path) -> None:
    a = plain_document()
    b = copy.deepcopy(a)
    cpu = b["styles"]["rest"]["cpu"]
    cpu["processes"]["order"], cpu["total_ms"], cpu["bound_fraction"] = 1.5, 6.5, 0.45
    found = compared(tmp_path, a, b)
    assert row(found, "rest", "CPU-ms/order") == ("8.00", "6.50", "x0.81", Cell("x0.81", GOOD))
    assert row(found, "rest", "CPU-ms/order order")[:3] == ("3.00", "1.50", "x0.50")
    assert row(found, "rest", "CPU-ms/order locust")[3] == Cell("x1.00")  # unchanged
    bound = row(found, "rest", "of bound %")
    assert bound[1:] == ("45.00", "+14.81 pts", Cell("+14.81 pts", GOOD))
    metrics = {cells[1].text for cells in found.changes.rows}
    assert "CPU-ms/order rabbitmq" not in metrics  # not attributed in either run


def test_runs_without_cpu_figures_have_no_cpu_rows(tmp_path: Path) -> None:
    a = plain_document()
    for result in a["styles"].values():
        del result["cpu"]
    found = compared(tmp_path, a, copy.deepcopy(a))
    assert not any(cells[1].text.startswith("CPU") for cells in found.changes.rows)
