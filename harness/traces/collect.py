"""Where a bench run's stack writes its spans, and how much it samples.

Each service writes its own file through the SDK's OTLP JSON file exporter
(services/kernel/tracing.py, `ORDERFLOW_TRACES_FILE`), so the results folder holds plain OTLP
JSON that other tools read too."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

FOLDER: Final = "traces"
SAMPLER: Final = "parentbased_traceidratio"
# One order in ten is enough for a typical and a slow waterfall per style in a short run, and
# keeps the cost small (docs/bench.md measures it): an unsampled order costs a flag test per hop.
DEFAULT_RATIO: Final = "0.1"


def folder(out: Path) -> Path:
    return out / FOLDER


def environment(out: Path, base: Mapping[str, str]) -> dict[str, str]:
    """What the bench's own stack runs with to trace into `out`/traces: the sampler is ours
    unless the caller's environment names one (OTEL_TRACES_SAMPLER / _ARG as users expect)."""
    env = {"ORDERFLOW_TRACES_FILE": str(folder(out) / "{service}.jsonl")}
    if not base.get("OTEL_TRACES_SAMPLER", "").strip():
        env["OTEL_TRACES_SAMPLER"] = SAMPLER
        env["OTEL_TRACES_SAMPLER_ARG"] = base.get("OTEL_TRACES_SAMPLER_ARG", DEFAULT_RATIO)
    return env
