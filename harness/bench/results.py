"""From the samples the Locust processes wrote to the numbers in results.json.

Every statistic is computed here, from raw samples, rather than taken from Locust's own
aggregates: Locust's percentiles are bucketed and per process, while merging the raw samples of
every process gives exact nearest-rank percentiles over the whole run.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bench.results_model import SCHEMA as SCHEMA  # re-exported: readers name it here
from harness.bench.results_model import Results

SAMPLE_FORMAT = 1
ORDER_COMPLETED = "order_completed"
NOOP = "noop"
# The order flow's own order, so tables read like the flow; other operations follow by name.
FLOW_ORDER = ("browse_catalog", "place_order", "get_order", ORDER_COMPLETED)
TOP_ERRORS = 10
# Of one core, for the busiest Locust process during calibration. Lower than the runner's 0.9:
# a gevent process sharing two cores with four services and its own no-op's server is already
# the limit well before it reads a full core (issue 17 saw 0.65-0.93).
CEILING_LIMITED_AT = 0.75


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds at which the request was due to start
    operation: str
    latency_ms: float
    error: str | None

    @property
    def failed(self) -> bool:
        return self.error is not None


def load_samples(paths: Iterable[Path]) -> list[Sample]:
    """Every sample of the given files (one per Locust process), merged in time order."""
    samples = [sample for path in paths for sample in _samples_of(path)]
    samples.sort(key=lambda sample: sample.at)
    return samples


def load_accepted(paths: Iterable[Path]) -> list[str]:
    """The idempotency keys of the orders the system accepted, from every process's file."""
    return [str(key) for path in paths for key in json.loads(path.read_text()).get("accepted", [])]


def _samples_of(path: Path) -> list[Sample]:
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or document.get("format") != SAMPLE_FORMAT:
        raise ValueError(f"{path}: not a sample file of format {SAMPLE_FORMAT}")
    try:
        started_at = float(document["started_at"])
        return [_sample(started_at, row) for row in document["samples"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: malformed sample file ({error!r})") from error


def _sample(started_at: float, row: list[Any]) -> Sample:
    offset_s, operation, latency_ms, error = row
    message = None if error is None else str(error)
    return Sample(started_at + float(offset_s), str(operation), float(latency_ms), message)


def nearest_rank(ordered: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of already sorted values: always one observed value."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _per_s(count: int, duration_s: float) -> float:
    return round(count / duration_s, 2) if duration_s > 0 else 0.0


def _fraction(part: int, whole: int) -> float:
    # Four decimals (0.01 %): two would round a 0.4 % error rate down to nothing.
    return round(part / whole, 4) if whole else 0.0


def _latencies(samples: Sequence[Sample], percents: Iterable[int]) -> dict[str, float | None]:
    # Failures are included: a timeout or a slow error is latency the user waited through too.
    ordered = sorted(sample.latency_ms for sample in samples)
    found = {f"p{p}_ms": _ms(nearest_rank(ordered, p)) if ordered else None for p in percents}
    found["max_ms"] = _ms(ordered[-1]) if ordered else None
    return found


def operation_stats(samples: Sequence[Sample], duration_s: float) -> dict[str, Any]:
    """The statistics of one operation's samples over a phase of duration_s seconds."""
    failures = sum(sample.failed for sample in samples)
    total_ms = math.fsum(sample.latency_ms for sample in samples)
    errors = Counter(sample.error for sample in samples if sample.error is not None)
    return {
        "count": len(samples),
        "failures": failures,
        "error_rate": _fraction(failures, len(samples)),
        "per_s": _per_s(len(samples), duration_s),
        "mean_ms": _ms(total_ms / len(samples)) if samples else None,
        **_latencies(samples, (50, 95, 99)),
        "errors": dict(errors.most_common(TOP_ERRORS)),
    }


def _by_operation(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    groups: defaultdict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.operation].append(sample)
    return {operation: groups[operation] for operation in sorted(groups, key=_flow_position)}


def _flow_position(operation: str) -> tuple[int, str]:
    known = operation in FLOW_ORDER
    return (FLOW_ORDER.index(operation) if known else len(FLOW_ORDER), operation)


def per_second(samples: Sequence[Sample], t0: float, duration_s: float) -> list[dict[str, Any]]:
    """One entry per whole second of the phase, each with only the operations seen in it.

    Samples before t0 count in the first second and samples past the end in the last, so the
    seconds add up to the whole phase: no sample is dropped for a clock's jitter.
    """
    buckets = by_second(samples, t0, math.ceil(duration_s))
    return [{"second": i, "operations": _second_stats(bucket)} for i, bucket in enumerate(buckets)]


def by_second(samples: Iterable[Sample], t0: float, seconds: int) -> list[list[Sample]]:
    """The samples in `seconds` whole seconds from t0: early ones in the first, late ones in
    the last (the report's p95 per second buckets them the same way as results.json)."""
    if seconds <= 0:
        return []
    buckets: list[list[Sample]] = [[] for _ in range(seconds)]
    for sample in samples:
        buckets[min(max(math.floor(sample.at - t0), 0), seconds - 1)].append(sample)
    return buckets


def _second_stats(bucket: Sequence[Sample]) -> dict[str, dict[str, Any]]:
    return {
        operation: {
            "count": len(group),
            "failures": sum(sample.failed for sample in group),
            **_latencies(group, (50, 99)),
        }
        for operation, group in _by_operation(bucket).items()
    }


def _completed_orders(samples: Iterable[Sample]) -> int:
    return sum(s.operation == ORDER_COMPLETED and not s.failed for s in samples)


def _summary(load: Sequence[Sample], duration_s: float) -> dict[str, Any]:
    requests = sum(sample.operation != ORDER_COMPLETED for sample in load)
    orders = [sample for sample in load if sample.operation == ORDER_COMPLETED]
    completed = _completed_orders(orders)
    order_latency = _latencies(orders, (50, 95, 99))
    return {
        "requests": requests,
        "requests_per_s": _per_s(requests, duration_s),
        "orders_completed": completed,
        "orders_per_s": _per_s(completed, duration_s),
        "error_rate": _fraction(sum(sample.failed for sample in load), len(load)),
        **{f"order_{name}": value for name, value in order_latency.items()},
    }


def _calibration(
    samples: Sequence[Sample],
    calibration_s: float,
    orders_per_s: float,
    load_generator: dict[str, Any],
) -> dict[str, Any]:
    """The style's transport ceiling: a no-op over the same stack and protocol, flat out.

    order_ratio is orders/s over that ceiling: the share of what the transport alone carries
    here that the whole order flow (several calls and a saga per order) reaches.
    """
    noops = _noops(samples)
    stats = operation_stats(noops, calibration_s)
    ceiling = len(noops) / calibration_s if calibration_s > 0 else 0.0
    return {
        "operation": NOOP,
        "duration_s": calibration_s,
        "per_s": stats["per_s"],
        "p50_ms": stats["p50_ms"],
        "p99_ms": stats["p99_ms"],
        "error_rate": stats["error_rate"],
        "order_ratio": round(orders_per_s / ceiling, 4) if ceiling > 0 else None,
        "load_generator": load_generator,
        "load_generator_limited": load_generator_limited(load_generator),
    }


def after_load(
    samples: Sequence[Sample],
    calibration_s: float,
    load_generator: dict[str, Any],
    cpu_ms_per_call: dict[str, float | None] | None,
) -> dict[str, Any]:
    """The no-op run again after the style's load: its rate, errors and price (the bound
    prices the no-op at the mean of this price and the calibration's)."""
    stats = operation_stats(_noops(samples), calibration_s)
    return {
        "duration_s": calibration_s,
        "per_s": stats["per_s"],
        "error_rate": stats["error_rate"],
        "load_generator": load_generator,
        "cpu_ms_per_call": cpu_ms_per_call,
    }


def _noops(samples: Sequence[Sample]) -> list[Sample]:
    return [sample for sample in samples if sample.operation == NOOP]


def load_generator_limited(load_generator: dict[str, Any]) -> bool:
    """Whether a Locust process ran near a full core during the no-op: then the ceiling is
    (at least partly) the load generator's limit, not the transport's."""
    core = load_generator.get("core_per_process")
    return bool(load_generator.get("saturated")) or (
        core is not None and core >= CEILING_LIMITED_AT
    )


def style_result(
    load: Sequence[Sample],
    calibration: Sequence[Sample] | None,
    duration_s: float,
    calibration_s: float | None,
    load_generator: dict[str, Any],
    calibration_load_generator: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything results.json holds for one style: its load phase and its calibration."""
    t0 = min((sample.at for sample in load), default=0.0)
    operations = {
        op: operation_stats(group, duration_s) for op, group in _by_operation(load).items()
    }
    return {
        "operations": operations,
        "per_second": per_second(load, t0, duration_s),
        "summary": _summary(load, duration_s),
        "calibration": _calibration_or_none(
            calibration, calibration_s, calibration_load_generator, load, duration_s
        ),
        "load_generator": load_generator,
    }


def _calibration_or_none(
    calibration: Sequence[Sample] | None,
    calibration_s: float | None,
    load_generator: dict[str, Any] | None,
    load: Sequence[Sample],
    duration_s: float,
) -> dict[str, Any] | None:
    if calibration is None:
        return None
    if calibration_s is None or load_generator is None:
        raise ValueError("calibration samples need calibration_s and their load_generator")
    # Unrounded orders/s, so the ratio does not carry the rounding of both its terms.
    orders_per_s = _completed_orders(load) / duration_s if duration_s > 0 else 0.0
    return _calibration(calibration, calibration_s, orders_per_s, load_generator)


def capacity_step(
    samples: Sequence[Sample],
    rate: float,
    step_s: float,
    slo_p99_ms: float,
    max_error_rate: float,
    saturated: bool = False,
) -> dict[str, Any]:
    """One step of a capacity search: did the style hold the offered rate for step_s seconds?
    Not if the load generator was saturated: then the generator may have set the limit."""
    ordered = sorted(sample.latency_ms for sample in samples)
    p99 = nearest_rank(ordered, 99) if ordered else None
    failures = sum(sample.failed for sample in samples)
    error_rate = failures / len(samples) if samples else 0.0
    completed = _completed_orders(samples)
    held = p99 is not None and p99 <= slo_p99_ms and error_rate < max_error_rate and not saturated
    return {
        "rate": rate,
        "per_s": _per_s(completed, step_s),
        "p99_ms": _ms(p99),
        "error_rate": round(error_rate, 4),
        "load_generator_saturated": saturated,
        "held": held,
    }


def run_meta(
    run_id: str, command: str, target: str, profile: str | None, **load: Any
) -> dict[str, Any]:
    """The `run` section: how the run was made. `load`: model, users, rate, duration_s,
    calibration_s and processes, as the schema names them."""
    return {
        "id": run_id,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command,
        **load,
        "profile": profile,
        "target": target,
        "machine": {
            "cpus": os.cpu_count() or 1,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def results_document(
    run: dict[str, Any],
    styles: dict[str, dict[str, Any]],
    capacity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    document: dict[str, Any] = {"schema": SCHEMA, "run": run, "styles": styles}
    if capacity is not None:
        document["capacity"] = capacity
    return document


def write_results(folder: Path, document: dict[str, Any]) -> Path:
    """Write results.json, after checking it is what its model (and so its published schema)
    says; NaN or infinity is refused too, since JSON has no such numbers. The document is
    written as built, not re-serialised from the model, so a whole number stays whole."""
    checked(document)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return path


def checked(document: dict[str, Any]) -> Results:
    """The document as its model reads it; a pydantic ValidationError (a ValueError) when it is
    not what the model says."""
    return Results.model_validate(document)
