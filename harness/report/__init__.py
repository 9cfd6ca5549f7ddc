"""Reports of results folders: `orderflow report` (one run as HTML and Markdown) and
`orderflow compare` (what changed between two runs). See docs/report.md."""

from __future__ import annotations

from harness.report.build import Written, write_report
from harness.report.model import ReportError, Run, load_run

__all__ = ["ReportError", "Run", "Written", "load_run", "write_report"]
