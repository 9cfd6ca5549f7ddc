"""What the report's tables say: the terminal's numbers, as Markdown pipe tables, with the
audit's broken invariants marked, and a scenario's phases only for a scenario run."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report import load_run
from harness.report.cells import BAD, NOTE, Cell, Table
from harness.report.markdown import report as markdown_report
from harness.report.markdown import table as markdown_table
from harness.report.report import audit_verdict, report
from harness.report.run_tables import audit, cpu, side_by_side
from harness.report.scenario_tables import expectations, phases
from tests.unit.report_documents import plain_document, scenario_document, write_folder


def rows_of(text: str) -> list[list[str]]:
    """The cells of each row of a Markdown pipe table (the header and rule rows included)."""
    return [
        [cell.strip() for cell in line.strip("|").split(" | ")]
        for line in text.splitlines()
        if line.startswith("|")
    ]


def test_the_side_by_side_table_holds_each_style_s_numbers(tmp_path: Path) -> None:
    run = load_run(write_folder(tmp_path, plain_document(("rest", "grpc"))))
    rows = rows_of(markdown_table(side_by_side(run)))
    assert rows[0][:4] == ["style", "req/s", "orders/s", "order p50"]
    assert rows[1][:3] == [":---", "---:", "---:"]
    # 6 requests and 2 orders of 40 ms every second; a no-op ceiling of 100/s.
    assert rows[2] == ["rest", "6.0", "2.0", "40.0", "40.0", "40.0", "40.0", "0.00", "100.0",
                       "0.02", "0.15 cores"]  # fmt: skip
    assert [row[0] for row in rows[2:]] == ["rest", "grpc"]


def test_a_markdown_table_has_its_title_and_how_to_read_line_and_escapes_pipes() -> None:
    found = Table("t", "A title", "Read it so.", ("a", "b"), ((Cell("x|y"), Cell("1")),), "<>")
    assert markdown_table(found).splitlines() == [
        "## A title",
        "",
        "_Read it so._",
        "",
        "| a | b |",
        "| :--- | ---: |",
        "| x\\|y | 1 |",
    ]


def test_a_count_that_breaks_an_invariant_is_marked_bad(tmp_path: Path) -> None:
    run = load_run(write_folder(tmp_path, plain_document(lost=2, duplicate_notifications=3)))
    rest, broker = audit(run).rows
    assert all(cell.mark == "" for cell in rest)
    by_header = dict(zip(audit(run).headers, broker, strict=True))
    assert by_header["lost"] == Cell("2!", BAD)
    # Repeats the notification service recognised: worth a look, not a broken invariant.
    assert by_header["dup. notif."] == Cell("3", NOTE)
    assert by_header["stuck"] == Cell("0")
    assert rows_of(markdown_table(audit(run)))[3][1] == "2!"


def test_the_verdict_names_each_broken_invariant_and_ignores_recognised_repeats(
    tmp_path: Path,
) -> None:
    clean = load_run(write_folder(tmp_path / "clean", plain_document(duplicate_notifications=4)))
    assert audit_verdict(clean) == (
        "Every invariant held in every style: nothing lost, stuck or charged wrongly.",
        True,
    )
    broken = load_run(write_folder(tmp_path / "broken", scenario_document(lost=2, stuck=1)))
    text, ok = audit_verdict(broken)
    assert not ok
    assert text == (
        "The audit found problems: broker: lost 2, stuck 1; expectations not met: broker."
    )


def test_an_audit_that_could_not_read_the_books_says_so(tmp_path: Path) -> None:
    document = plain_document()
    document["styles"]["rest"]["audit"] = {"error": "ConnectError: refused"}
    run = load_run(write_folder(tmp_path, document))
    assert audit_verdict(run) == (
        "The audit found problems: rest: the books could not be read.",
        False,
    )
    assert "rest: the audit could not read the books: ConnectError: refused" in report(run).problems


def test_a_scenario_run_has_its_phases_and_expectations(tmp_path: Path) -> None:
    run = load_run(write_folder(tmp_path, scenario_document(lost=1)))
    rows = rows_of(markdown_table(phases(run)))
    # rest's orders failed while payment was down (4 s to 7.5 s), and came back after.
    assert rows[2][:5] == ["rest", "before", "2-4", "100.00", "2.0"]
    assert rows[3][:5] == ["rest", "during", "4-7.5", "0.00", "0.0"]
    assert rows[4][:4] == ["rest", "after", "7.5-14", "100.00"]
    assert rows[6][:7] == ["broker", "during", "4-7.5", "100.00", "2.3", "900.0", "900.0"]
    failed = [row for row in expectations(run).rows if row[-1].text == "FAILED"]
    assert [(row[0].text, row[1].text, row[-1].mark) for row in failed] == [
        ("broker", "lost == 0", BAD)
    ]


def test_the_summary_says_what_was_run_and_has_every_section(tmp_path: Path) -> None:
    text = markdown_report(report(load_run(write_folder(tmp_path, scenario_document()))))
    assert text.startswith("# orderflow report: scenario payment-outage\n")
    assert "- **command:** `orderflow bench scenarios/payment-outage.yaml`" in text
    assert "- **started:** 2026-11-23T11:13:02+00:00 (run 20261123-111259-1b0d)" in text
    assert "- **machine:** 2 CPUs, Python 3.11.7, Linux-x86_64" in text
    assert "- **faults:** payment crash at 4s for 3s" in text
    titles = [line for line in text.splitlines() if line.startswith("## ")]
    assert titles == [
        "## What was run",
        "## Every style side by side",
        "## The audit: did every order end as the rules say?",
        "## Failure isolation at a glance",
        "## Phase by phase",
        "## The blast radius: operations that should not have noticed",
        "## The faults as they happened",
        "## What the scenario expected",
        "## Each operation",
        "## What the errors were",
        "## Charts",
    ]
    # Every table has its line on how to read it, right under its title.
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("## ") and line != "## What was run":
            assert lines[index + 2].startswith("_"), line


def test_a_plain_run_has_no_scenario_tables(tmp_path: Path) -> None:
    text = markdown_report(report(load_run(write_folder(tmp_path, plain_document()))))
    assert "## Phase by phase" not in text and "## Failure isolation" not in text
    assert "- **load:** closed model, 5 users, 14 s per style, after a 2 s no-op" in text


def test_a_plain_run_has_its_cpu_per_order_and_the_bound(tmp_path: Path) -> None:
    run = load_run(write_folder(tmp_path, plain_document(("rest", "grpc"))))
    found = cpu(run)
    assert found is not None
    rows = rows_of(markdown_table(found))
    assert rows[0] == ["style", "order", "inventory", "payment", "notification", "locust",
                       "total", "no-op (ms)", "bound", "of bound"]  # fmt: skip
    # 0.06 s of the order service's CPU over 20 orders is 3 ms an order, and so on; the bound:
    # 5.5 hops at 0.42 ms and 7 transactions at 0.015 ms is 2.42 ms, 30% of the 8 ms.
    assert rows[2] == ["rest", "3.00", "1.50", "1.00", "0.50", "2.00", "8.00", "0.420", "2.42",
                       "30%"]  # fmt: skip
    assert "Not counted: rabbitmq: not a process this bench started." in found.how_to_read
    text = markdown_report(report(run))
    assert "## CPU per completed order" in text


@pytest.mark.parametrize(("store", "priced"), [(None, "SQLite"), ("sqlite", "SQLite"),
                                              ("postgres", "PostgreSQL")])  # fmt: skip
def test_the_cpu_table_names_the_store_whose_transaction_priced_the_bound(
    tmp_path: Path, store: str | None, priced: str
) -> None:
    document = plain_document(("rest",))
    if store is not None:
        document["run"] |= {"store": store, "replicas": 1}
    found = cpu(load_run(write_folder(tmp_path, document)))
    assert found is not None
    assert f"each store transaction a bare {priced} one;" in found.how_to_read


def test_a_run_without_cpu_figures_has_no_cpu_table(tmp_path: Path) -> None:
    run = load_run(write_folder(tmp_path, scenario_document()))
    assert cpu(run) is None
    assert "## CPU per completed order" not in markdown_report(report(run))
