"""`orderflow medians`: each style's median of every figure over several runs, with its range,
the CPU ratio to REST taken run by run, and a warning for each way the runs differ."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.report import load_run
from harness.report.medians import Medians, medians
from tests.unit.report_documents import changed, meta, plain_document, write_folder


def run_with(orders_per_s: float, rest_cpu: float, graphql_cpu: float) -> dict[str, Any]:
    """A run of REST and GraphQL with these orders/s (both) and CPU-ms per order."""
    document = plain_document(("rest", "graphql"))
    for style, total in (("rest", rest_cpu), ("graphql", graphql_cpu)):
        document = changed(document, style, orders_per_s=orders_per_s)
        cpu = document["styles"][style]["cpu"]
        cpu["total_ms"], cpu["bound_fraction"] = total, round(5.0 / total, 4)
    return document


def found(tmp_path: Path, *documents: dict[str, Any]) -> Medians:
    folders = [write_folder(tmp_path / str(i), doc) for i, doc in enumerate(documents, 1)]
    return medians([load_run(folder) for folder in folders])


def cells(result: Medians, style: str) -> dict[str, str]:
    for row in result.table.rows:
        if row[0].text == style:
            return {
                header: cell.text for header, cell in zip(result.table.headers, row, strict=True)
            }
    raise AssertionError(f"no row for {style}")


def test_each_figure_is_the_median_with_its_lowest_and_highest(tmp_path: Path) -> None:
    result = found(tmp_path, run_with(100, 10, 12), run_with(140, 8, 12), run_with(90, 12, 15))
    rest = cells(result, "rest")
    assert rest["runs"] == "3"
    assert rest["orders/s"] == "100.0 (90.0-140.0)"
    assert rest["CPU-ms per order"] == "10.00 (8.00-12.00)"
    assert rest["of bound"] == "50% (42%-62%)"
    assert result.warnings == []


def test_the_ratio_to_rest_is_each_runs_own_then_its_median(tmp_path: Path) -> None:
    # Ratios 1.2, 1.5, 1.25: their median is 1.25, where the ratio of the medians
    # (13.0 / 10.0) would be 1.3.
    result = found(tmp_path, run_with(100, 10, 12), run_with(100, 8, 12), run_with(100, 12, 15))
    assert cells(result, "graphql")["CPU ÷ rest"] == "1.25 (1.20-1.50)"
    assert cells(result, "rest")["CPU ÷ rest"] == "1.00 (1.00-1.00)"


def test_a_style_some_runs_lack_is_counted_over_the_others_and_warned_of(
    tmp_path: Path,
) -> None:
    rest_only = plain_document(("rest",))
    result = found(tmp_path, run_with(100, 10, 12), rest_only)
    assert cells(result, "graphql")["runs"] == "1"
    assert cells(result, "graphql")["CPU-ms per order"] == "12.00"  # one run: no range
    assert result.warnings == [
        "not every run ran graphql: its medians are over fewer runs (see runs)"
    ]


def test_runs_made_with_another_load_or_profile_are_warned_of(tmp_path: Path) -> None:
    other = copy.deepcopy(run_with(100, 10, 12))
    other["run"] = {**meta(other["run"]["command"], users=20), "profile": "resilient"}
    result = found(tmp_path, run_with(100, 10, 12), other)
    assert [line.split(":")[0] for line in result.warnings] == [
        "the runs differ in load",
        "the runs differ in profile",
    ]


def test_the_command_prints_the_table_and_writes_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_folder(tmp_path / "1", run_with(100, 10, 12))
    second = write_folder(tmp_path / "2", run_with(140, 8, 12))
    out = tmp_path / "medians.md"
    assert main(["medians", str(first), str(second), "--markdown", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Medians of 2 runs (median, lowest-highest)" in printed
    rest = next(line for line in printed.splitlines() if line.startswith("rest "))
    assert rest.split()[:3] == ["rest", "2", "120.0"]
    assert out.read_text().startswith("## Medians of 2 runs\n")
    assert "| graphql | 2 |" in out.read_text()


def test_one_folder_or_a_missing_one_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_folder(tmp_path / "1", run_with(100, 10, 12))
    assert main(["medians", str(first)]) == 2
    assert "give two results folders or more" in capsys.readouterr().err
    assert main(["medians", str(first), str(tmp_path / "nowhere")]) == 2
    assert "no such results folder" in capsys.readouterr().err
