"""The report's table of variants: each variant beside its style, as ratios of the same run."""

from __future__ import annotations

from pathlib import Path

from harness.report import load_run
from harness.report.markdown import report as markdown_report
from harness.report.report import report
from harness.report.variants import variants
from tests.unit.report_documents import changed, plain_document, write_folder


def test_a_variant_is_shown_beside_its_style_as_ratios(tmp_path: Path) -> None:
    document = plain_document(("rest", "rest-sse", "broker"))
    rest = document["styles"]["rest"]["summary"]["orders_per_s"]
    document = changed(document, "rest-sse", orders_per_s=rest / 2)
    found = variants(load_run(write_folder(tmp_path, document)))
    assert found is not None
    [row] = found.rows  # broker-amqp did not run: no row for broker
    cells = [cell.text for cell in row]
    assert cells[:3] == ["rest-sse", "rest", "0.50"]
    assert cells[-1] == "1.00"  # the same CPU per order in this document
    assert "## Variants beside their style" in markdown_report(report(load_run(tmp_path)))


def test_without_a_variant_beside_its_style_there_is_no_table(tmp_path: Path) -> None:
    alone = plain_document(("rest-sse", "broker"))  # rest-sse without rest: nothing to compare
    run = load_run(write_folder(tmp_path, alone))
    assert variants(run) is None
    assert "Variants beside" not in markdown_report(report(run))
