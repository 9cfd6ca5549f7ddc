"""`write_report(folder)`: report.html and report.md written into a results folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.bench.results_model import Summary
from harness.report import charts, html, markdown
from harness.report.fault_traces import HOW_TO_READ as FAULT_TRACES_HOW_TO_READ
from harness.report.fault_traces import fault_traces
from harness.report.model import Run, load_run, reported_as_errors
from harness.report.report import BARS_HOW_TO_READ, TIMELINES_HOW_TO_READ, report
from harness.report.series import series
from harness.report.telemetry import HOW_TO_READ as TELEMETRY_HOW_TO_READ
from harness.report.telemetry import telemetry_charts
from harness.report.waterfalls import HOW_TO_READ as WATERFALLS_HOW_TO_READ
from harness.report.waterfalls import traces

HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"
# The bar charts of a report and of a comparison: (panel title, field of a style's summary).
SUMMARY_BARS: tuple[tuple[str, Callable[[Summary], float | None]], ...] = (
    ("orders/s completed (higher is better)", lambda summary: summary.orders_per_s),
    ("order p99 in ms (lower is better)", lambda summary: summary.order_p99_ms),
)


@dataclass(frozen=True)
class Written:
    html: Path
    markdown: Path


def write_report(folder: Path) -> Written:
    """Read folder/results.json and write the report beside it; ReportError when the folder
    is not a results folder (the message names the path)."""
    run = load_run(folder)
    with reported_as_errors(folder):
        return _write(run, folder)


def _write(run: Run, folder: Path) -> Written:
    found = report(run)
    traced = traces(folder, list(run.styles))  # nothing when the run collected no spans
    breakdown = "" if traced.breakdown is None else "\n" + markdown.table(traced.breakdown) + "\n"
    return write_pages(
        Written(folder / HTML_NAME, folder / MARKDOWN_NAME),
        markdown.report(found) + breakdown,
        "report.html.j2",
        title=found.title,
        report=found,
        bars=summary_bars(run.kind, list(run.styles), {"this run": run}, "bars"),
        bars_how_to_read=BARS_HOW_TO_READ,
        timelines=timelines(run),
        timelines_how_to_read=TIMELINES_HOW_TO_READ,
        traces=traced,
        waterfalls_how_to_read=WATERFALLS_HOW_TO_READ,
        telemetry=telemetry_charts(run),
        telemetry_how_to_read=TELEMETRY_HOW_TO_READ,
        fault_traces=fault_traces(run),
        fault_traces_how_to_read=FAULT_TRACES_HOW_TO_READ,
    )


def write_pages(written: Written, markdown_text: str, template: str, **context: Any) -> Written:
    """The Markdown as given, and the HTML page `template` renders with `context`."""
    written.markdown.write_text(markdown_text, encoding="utf-8")
    written.html.write_text(html.render(template, **context), encoding="utf-8")
    return written


def summary_bars(title: str, styles: Sequence[str], runs: Mapping[str, Run], salt: str) -> Markup:
    """Orders/s and p99 per style: a bar per run in each style's group (one run, or A and B)."""
    panels = {
        panel: {
            label: [field(run.styles[style].summary) for style in styles]
            for label, run in runs.items()
        }
        for panel, field in SUMMARY_BARS
    }
    return html.svg(charts.bars(title, styles, panels, salt))


def timelines(run: Run) -> list[Markup]:
    warmup_s = run.scenario.warmup_s if run.scenario else 0.0
    return [
        html.svg(charts.timeline(series(run.folder, style, result, warmup_s)))
        for style, result in run.styles.items()
    ]
