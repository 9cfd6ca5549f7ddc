"""Each style's load second by second, and its fault windows, as the charts draw them.

results.json holds every second's p50 and p99 and counts. The p95 comes from the raw samples
(each style's samples-load/*.json beside it), bucketed as results.per_second buckets them;
without them the charts draw p50 and p99 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.bench.results import ORDER_COMPLETED, by_second, load_samples, nearest_rank
from harness.bench.results_model import SecondStats, StyleResult
from harness.bench.results_scenario_model import Depths, Fault

OWED = "notifications owed (order)"


@dataclass(frozen=True)
class Window:
    """A band to shade: seconds from the start of the style's load."""

    start_s: float
    end_s: float
    label: str


@dataclass(frozen=True)
class Series:
    """One style's load, one value per whole second (None: no order in that second)."""

    style: str
    p50: list[float | None]
    p95: list[float | None] | None  # None: the raw samples are not in the folder
    p99: list[float | None]
    orders: list[int]  # orders that reached their final status without error
    requests: list[int]
    failures: list[int]  # failed samples of any operation
    faults: list[Window]
    warmup_s: float
    # the broker's queue depths, and the order service's notifications owed: (t, depth)
    queues: dict[str, list[tuple[float, int]]]

    @property
    def seconds(self) -> int:
        return len(self.orders)


def series(folder: Path, style: str, result: StyleResult, warmup_s: float) -> Series:
    seconds = result.per_second
    orders = [second.operations.get(ORDER_COMPLETED) for second in seconds]
    scenario = result.scenario
    return Series(
        style=style,
        p50=[order.p50_ms if order else None for order in orders],
        p95=_p95(sorted((folder / style).glob("samples-load/*.json")), len(seconds)),
        p99=[order.p99_ms if order else None for order in orders],
        orders=[order.count - order.failures if order else 0 for order in orders],
        requests=[_requests(second.operations) for second in seconds],
        failures=[sum(op.failures for op in s.operations.values()) for s in seconds],
        faults=fault_windows(scenario.faults if scenario else [], len(seconds)),
        warmup_s=warmup_s,
        queues=_queues(scenario.broker.series if scenario else []),
    )


def _requests(operations: dict[str, SecondStats]) -> int:
    return sum(stats.count for name, stats in operations.items() if name != ORDER_COMPLETED)


def fault_windows(faults: Sequence[Fault], end_s: float) -> list[Window]:
    """When each fault really was on; one that never began is not drawn, one that never
    ended lasts to the end of the load (as the phases count it)."""
    return [
        Window(fault.began_s, end_s if fault.ended_s is None else fault.ended_s, fault.description)
        for fault in faults
        if fault.began_s is not None
    ]


def _queues(points: Sequence[Depths]) -> dict[str, list[tuple[float, int]]]:
    """Each queue's depth over time; only queues that ever held a message (an empty chart
    says nothing), and no point while the broker did not answer."""
    found: dict[str, list[tuple[float, int]]] = {}
    for point in points:
        for queue, depth in (point.depths or {}).items():
            found.setdefault(queue, []).append((point.t, depth))
        if (owed := point.notifications_owed) is not None:  # results since issue 14
            found.setdefault(OWED, []).append((point.t, owed))
    return {queue: depths for queue, depths in found.items() if any(d for _, d in depths)}


def _p95(paths: list[Path], seconds: int) -> list[float | None] | None:
    if not paths or seconds <= 0:
        return None
    try:
        samples = load_samples(paths)
    except (OSError, ValueError):  # unreadable samples: draw the two percentiles we have
        return None
    # From the first sample of any operation, as results.json's per-second figures count.
    t0 = min((sample.at for sample in samples), default=0.0)
    orders = (sample for sample in samples if sample.operation == ORDER_COMPLETED)
    return [
        nearest_rank(sorted(s.latency_ms for s in bucket), 95) if bucket else None
        for bucket in by_second(orders, t0, seconds)
    ]
