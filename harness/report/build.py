"""`write_report(folder)`: report.html and report.md written into a results folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from harness.report import charts, html, markdown
from harness.report.model import Run, load_run, reported_as_errors
from harness.report.report import BARS_HOW_TO_READ, TIMELINES_HOW_TO_READ, report
from harness.report.series import series

HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"


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
    written = Written(folder / HTML_NAME, folder / MARKDOWN_NAME)
    written.markdown.write_text(markdown.report(found), encoding="utf-8")
    page = html.render(
        "report.html.j2",
        title=found.title,
        report=found,
        bars=bars(run),
        bars_how_to_read=BARS_HOW_TO_READ,
        timelines=timelines(run),
        timelines_how_to_read=TIMELINES_HOW_TO_READ,
    )
    written.html.write_text(page, encoding="utf-8")
    return written


def bars(run: Run) -> Markup:
    styles = list(run.styles)
    summaries = [result["summary"] for result in run.styles.values()]
    panels = {
        "orders/s completed (higher is better)": {
            "this run": [s["orders_per_s"] for s in summaries]
        },
        "order p99 in ms (lower is better)": {"this run": [s["order_p99_ms"] for s in summaries]},
    }
    return html.svg(charts.bars(run.kind, styles, panels, "bars"))


def timelines(run: Run) -> list[Markup]:
    warmup_s = (run.scenario or {}).get("warmup_s", 0.0)
    return [
        html.svg(charts.timeline(series(run.folder, style, result, warmup_s)))
        for style, result in run.styles.items()
    ]
