"""Failure isolation, from the raw samples of one style's run and the fault windows it had.

The run splits into phases: before the first fault (after the warm-up), during the faults (from
the first one's start to the last one's end) and after them. For each phase and operation: the
success ratio and the p50/p99 latency. Then what a reader compares styles by:

- p99 inflation: an operation's p99 during the faults over its p99 before;
- blast radius: the operations that do not use any faulted part (browsing the catalog while
  payment is down) and how they fared during the faults: ideally not at all;
- recovery time: from the end of the last fault until orders are back to how they were before:
  `RECOVERY_STREAK` whole seconds in a row, each with an order success ratio (orders that ended
  as promised over orders attempted) no more than `RATIO_SLACK` below the before phase's, and a
  p99 of completed orders at most `P99_SLACK` times its p99 (or `P99_FLOOR_MS` above it,
  whichever is more: one second's p99 of a fast flow is noisy).

Times are seconds from the start of the load; a sample belongs to the second it was due in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harness.bench.results import ORDER_COMPLETED, Sample, nearest_rank
from harness.scenarios.fault_kinds import replica_service

PLACE_ORDER: Final = "place_order"

RECOVERY_STREAK: Final = 3
RATIO_SLACK: Final = 0.02
P99_SLACK: Final = 2.0
P99_FLOOR_MS: Final = 50.0
ORDER_FLOW: Final = frozenset({"order", "inventory", "payment"})


@dataclass(frozen=True)
class Window:
    """A fault as it happened: seconds from the start of the load."""

    target: str
    start_s: float
    end_s: float


def uses(style: str, operation: str) -> frozenset[str]:
    """The parts of the system an operation of the load's mix needs to succeed. Each shares
    the load with the others, so a traffic spike (target `load`) spares none."""
    if operation == "browse_catalog":
        return frozenset({"inventory", "load"})
    if operation == "get_order":
        return frozenset({"order", "load"})
    if operation in ("place_order", ORDER_COMPLETED):
        return ORDER_FLOW | {"load"} | ({"broker"} if style == "broker" else set())
    return ORDER_FLOW | {"broker", "notification", "load"}  # never_sent, task_crashed: anything


def phase_bounds(
    windows: Sequence[Window], warmup_s: float, duration_s: float
) -> dict[str, tuple[float, float]]:
    """Each phase's [start, end) in seconds; a run without faults is all `before`."""
    if not windows:
        return {"before": (warmup_s, duration_s)}
    first = min(window.start_s for window in windows)
    last = min(max(window.end_s for window in windows), duration_s)  # one that never ended
    bounds = {"before": (warmup_s, first), "during": (first, last), "after": (last, duration_s)}
    return {name: (start, end) for name, (start, end) in bounds.items() if end > start}


def isolation(
    style: str,
    samples: Sequence[Sample],
    zero: float,
    windows: Sequence[Window],
    warmup_s: float,
    duration_s: float,
) -> dict[str, Any]:
    """Everything results.json holds about one style's failure isolation."""
    bounds = phase_bounds(windows, warmup_s, duration_s)
    in_phase = _split(samples, zero, bounds)
    phases = {name: _phase(bounds[name], in_phase[name]) for name in bounds}
    before, during = phases.get("before"), phases.get("during")
    faulted = sorted({window.target for window in windows})
    return {
        "phases": phases,
        "p99_inflation": _inflation(before, during),
        "blast_radius": _blast_radius(style, faulted, before, during),
        "recovery_s": _recovery(samples, zero, windows, before, duration_s),
    }


def _split(
    samples: Iterable[Sample], zero: float, bounds: dict[str, tuple[float, float]]
) -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = {name: [] for name in bounds}
    last = max(bounds, key=lambda name: bounds[name][1])
    for sample in samples:
        at = sample.at - zero  # before the warm-up's end it is in no phase
        for name, (start, end) in bounds.items():
            if start <= at < end or (name == last and at >= end):
                found[name].append(sample)  # one due as the run stopped still counts, last
                break
    return found


def _phase(bounds: tuple[float, float], samples: Sequence[Sample]) -> dict[str, Any]:
    by_operation: defaultdict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_operation[sample.operation].append(sample)
    start, end = bounds
    orders = sum(s.operation == ORDER_COMPLETED and not s.failed for s in samples)
    return {
        "from_s": round(start, 2),
        "to_s": round(end, 2),
        **_stats(samples),
        "order_success_ratio": _order_success(samples),
        "orders_per_s": round(orders / (end - start), 2) if end > start else 0.0,
        "operations": {name: _stats(group) for name, group in sorted(by_operation.items())},
    }


def _order_success(samples: Iterable[Sample]) -> float | None:
    """Orders that ended as the rules promise, over orders attempted: an order the service
    never accepted (it was down) is a failure here too, not just one that ended wrongly."""
    attempts = completed = 0
    for sample in samples:
        attempts += sample.operation == PLACE_ORDER
        completed += sample.operation == ORDER_COMPLETED and not sample.failed
    return round(min(completed / attempts, 1.0), 4) if attempts else None


def _stats(samples: Sequence[Sample]) -> dict[str, Any]:
    ordered = sorted(sample.latency_ms for sample in samples)
    succeeded = sum(not sample.failed for sample in samples)
    return {
        "count": len(samples),
        "success_ratio": round(succeeded / len(samples), 4) if samples else None,
        "p50_ms": round(nearest_rank(ordered, 50), 1) if ordered else None,
        "p99_ms": round(nearest_rank(ordered, 99), 1) if ordered else None,
    }


def _ratio(during: float | None, before: float | None) -> float | None:
    if during is None or not before:
        return None
    return round(during / before, 2)


def _inflation(before: dict[str, Any] | None, during: dict[str, Any] | None) -> dict[str, Any]:
    if before is None or during is None:
        return {}
    return {
        name: _ratio(stats["p99_ms"], before["operations"].get(name, {}).get("p99_ms"))
        for name, stats in during["operations"].items()
    }


def _blast_radius(
    style: str, faulted: list[str], before: dict[str, Any] | None, during: dict[str, Any] | None
) -> dict[str, Any]:
    """The operations that need none of the faulted parts, before and during the faults."""
    spared: dict[str, Any] = {}
    # One replica down is its service faulted: the blast radius is the service's.
    parts = {replica_service(target) or target for target in faulted}
    if during is not None:
        for name, stats in during["operations"].items():
            if uses(style, name) & parts:
                continue
            earlier = (before or {}).get("operations", {}).get(name, {})
            spared[name] = {
                "success_ratio_before": earlier.get("success_ratio"),
                "success_ratio_during": stats["success_ratio"],
                "p99_inflation": _ratio(stats["p99_ms"], earlier.get("p99_ms")),
            }
    return {"faulted": faulted, "operations": spared}


def _recovery(
    samples: Sequence[Sample],
    zero: float,
    windows: Sequence[Window],
    before: dict[str, Any] | None,
    duration_s: float,
) -> float | None:
    """Seconds from the last fault's end until orders complete as before; None without faults
    or a before phase to compare with, or if they never did within the run."""
    baseline = (before or {}).get("operations", {}).get(ORDER_COMPLETED)
    if not windows or not baseline or before is None or before["order_success_ratio"] is None:
        return None
    baseline = {**baseline, "success_ratio": before["order_success_ratio"]}
    cleared = max(window.end_s for window in windows)
    if cleared >= duration_s:
        return None  # a fault that lasted to the end of the run (or never ended)
    seconds = _seconds(samples, zero, cleared, duration_s)
    good = [_as_before(bucket, baseline) for bucket in seconds]
    for index in range(len(good)):
        streak = good[index : index + RECOVERY_STREAK]
        if len(streak) == RECOVERY_STREAK and all(streak):
            return float(index)  # the bucket starts `index` seconds after the fault cleared
    return None


def _seconds(
    samples: Iterable[Sample], zero: float, start_s: float, end_s: float
) -> list[list[Sample]]:
    buckets: list[list[Sample]] = [[] for _ in range(max(0, math.ceil(end_s - start_s)))]
    for sample in samples:
        if sample.operation not in (PLACE_ORDER, ORDER_COMPLETED):
            continue
        index = math.floor(sample.at - zero - start_s)
        if 0 <= index < len(buckets):
            buckets[index].append(sample)
    return buckets


def _as_before(bucket: Sequence[Sample], baseline: dict[str, Any]) -> bool:
    completed = [sample for sample in bucket if sample.operation == ORDER_COMPLETED]
    ratio = _order_success(bucket)
    if not completed or ratio is None:
        return False  # no order completed in that second: not recovered
    p99 = baseline["p99_ms"]
    p99_ok = p99 is None or _stats(completed)["p99_ms"] <= max(P99_SLACK * p99, p99 + P99_FLOOR_MS)
    return ratio >= baseline["success_ratio"] - RATIO_SLACK and p99_ok
