"""Where a traced bench run (`orderflow bench --traces`) writes its spans, and how much of it.

Each service, and each Locust process (as `locust-<pid>`), writes its own file through the
SDK's OTLP JSON file exporter (services/kernel/tracing.py, `ORDERFLOW_TRACES_FILE`), so the
results folder holds plain OTLP JSON that other tools read too."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

FOLDER: Final = "traces"
SAMPLER: Final = "parentbased_traceidratio"
# One order in ten is enough for a typical and a slow waterfall per style in a short run; what
# tracing costs even so is measured in docs/bench.md, which is why a bench traces only when
# asked to (`--traces`).
DEFAULT_RATIO: Final = 0.1


def folder(out: Path) -> Path:
    return out / FOLDER


def environment(out: Path, base: Mapping[str, str], ratio: float = DEFAULT_RATIO) -> dict[str, str]:
    """What the bench's own stack and its load generator run with to trace into `out`/traces,
    sampling `ratio` of the orders: unless the caller's environment names a sampler of its own
    (OTEL_TRACES_SAMPLER, with its OTEL_TRACES_SAMPLER_ARG), which is then kept."""
    env = {"ORDERFLOW_TRACES_FILE": str(folder(out) / "{service}.jsonl")}
    if not base.get("OTEL_TRACES_SAMPLER", "").strip():
        env["OTEL_TRACES_SAMPLER"] = SAMPLER
        env["OTEL_TRACES_SAMPLER_ARG"] = f"{ratio:g}"
    return env
