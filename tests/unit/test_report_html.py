"""report.html: one self-contained page (no script, nothing fetched), everything escaped but
our own SVGs, the audit's broken invariants highlighted, and the same bytes every time."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.report import write_report
from tests.unit.report_documents import (
    plain_document,
    scenario_document,
    scenario_samples,
    write_folder,
)


def written_page(folder: Path, document: dict[str, Any]) -> str:
    written = write_report(write_folder(folder, document))
    assert written.html == folder / "report.html" and written.markdown == folder / "report.md"
    assert written.markdown.read_text().startswith("# orderflow report: ")
    return written.html.read_text()


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    page = written_page(tmp_path, scenario_document())
    assert page.startswith("<!doctype html>")
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "@import" not in page and "url(http" not in page
    links = re.findall(r'href="([^"]*)"', page)
    assert links and all(link.startswith("#") for link in links)  # the SVGs' own references
    # A chart for the bars and one per style, inline.
    assert page.count("<svg") == 3


def test_every_id_in_the_page_is_unique(tmp_path: Path) -> None:
    document = scenario_document("payment-outage", ("rest", "grpc", "broker"))
    samples = {style: scenario_samples(style) for style in ("rest", "grpc", "broker")}
    write_folder(tmp_path, document, samples)
    page = write_report(tmp_path).html.read_text()
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})[:10]


def test_a_broken_invariant_is_highlighted_and_the_verdict_says_so(tmp_path: Path) -> None:
    page = written_page(tmp_path, plain_document(lost=2, duplicate_notifications=1))
    assert '<td class="num bad">2!</td>' in page
    assert '<td class="num note">1</td>' in page
    assert '<p class="verdict bad">Audit: The audit found problems: broker: lost 2.</p>' in page
    assert "<li>broker: an example of lost</li>" in page
    assert re.search(r"td\.bad[^{]*\{[^}]*background: #f8d7da", page)  # a colour, not a class


def test_a_clean_audit_has_no_highlight(tmp_path: Path) -> None:
    page = written_page(tmp_path, plain_document())
    assert 'class="num bad"' not in page and 'class="num note"' not in page
    assert '<p class="verdict ok">' in page


def test_text_from_the_results_is_escaped(tmp_path: Path) -> None:
    document = scenario_document()
    document["scenario"]["description"] = "<script>alert('x')</script> & <b>more</b>"
    document["run"]["command"] = "orderflow bench '<img src=x>'"
    page = written_page(tmp_path, document)
    assert "<script" not in page and "<img" not in page and "<b>more" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;more&lt;/b&gt;" in page
    assert "<code>orderflow bench &#39;&lt;img src=x&gt;&#39;</code>" in page


def test_the_page_is_the_same_every_time(tmp_path: Path) -> None:
    document = scenario_document()
    first = written_page(tmp_path / "a", document)
    assert written_page(tmp_path / "b", document) == first


def test_a_scenario_page_has_its_sections_in_reading_order(tmp_path: Path) -> None:
    page = written_page(tmp_path, scenario_document())
    sections = re.findall(r'<section id="([^"]+)">', page)
    assert sections == [
        "run",
        "side-by-side",
        "audit",
        "bars",
        "isolation",
        "phases",
        "blast-radius",
        "faults",
        "expectations",
        "timelines",
        "operations",
        "errors",
    ]
    how_to_read = re.findall(r'<p class="how">', page)
    assert len(how_to_read) == len(sections) - 1  # all but "What was run"


def test_a_plain_page_has_its_cpu_per_order_under_the_side_by_side(tmp_path: Path) -> None:
    page = written_page(tmp_path, plain_document())
    sections = re.findall(r'<section id="([^"]+)">', page)
    assert sections[:4] == ["run", "side-by-side", "cpu", "audit"]
