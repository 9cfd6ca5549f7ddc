"""The fault timeline: each fault begins and ends on time (seconds from the load's start), what
really happened is recorded, a failing fault does not stop the others, and finishing early ends
every fault still on."""

from __future__ import annotations

import threading
import time
from types import MappingProxyType

from harness.scenarios.spec import FaultSpec
from harness.scenarios.timeline import Timeline


def fault(
    at_s: float, duration_s: float, target: str = "payment", kind: str = "pause"
) -> FaultSpec:
    return FaultSpec(
        at_s=at_s,
        duration_s=duration_s,
        target=target,
        kind=kind,
        params=MappingProxyType({}),
        line=1,
    )


class Recording:
    def __init__(self, failing: str | None = None) -> None:
        self.calls: list[tuple[str, str, float]] = []
        self.zero = 0.0
        self._failing = failing
        self._lock = threading.Lock()

    def begin(self, spec: FaultSpec) -> None:
        self._record("begin", spec)

    def end(self, spec: FaultSpec) -> None:
        self._record("end", spec)

    def _record(self, action: str, spec: FaultSpec) -> None:
        with self._lock:
            self.calls.append((action, spec.target, time.time() - self.zero))
        if spec.target == self._failing:
            raise RuntimeError(f"{spec.target} would not {action}")


def test_faults_begin_and_end_on_time_from_the_zero_given() -> None:
    actuator = Recording()
    timeline = Timeline((fault(0.2, 0.3), fault(0.4, 0.2, target="inventory")), actuator)
    actuator.zero = time.time() - 0.1  # the load started 0.1 s ago
    timeline.start(actuator.zero)
    time.sleep(0.8)
    happened = timeline.finish()
    order = [(action, target) for action, target, _ in actuator.calls]
    assert order == [
        ("begin", "payment"),
        ("begin", "inventory"),
        ("end", "payment"),
        ("end", "inventory"),
    ]
    at = {(action, target): t for action, target, t in actuator.calls}
    # On time, give or take a loaded machine's scheduling.
    assert 0.2 <= at["begin", "payment"] < 0.45 and 0.5 <= at["end", "payment"] < 0.75
    first = happened[0]
    assert first.began_s is not None and first.ended_s is not None
    assert 0.2 <= first.began_s < 0.45 and first.ended_s >= 0.5
    assert [w.target for w in timeline.windows()] == ["payment", "inventory"]
    assert first.to_json()["planned_s"] == [0.2, 0.5] and first.to_json()["errors"] == []


def test_a_fault_that_fails_is_recorded_its_end_still_tried_and_the_others_still_run() -> None:
    actuator = Recording(failing="payment")
    timeline = Timeline((fault(0.0, 0.1), fault(0.0, 0.1, target="inventory")), actuator)
    actuator.zero = time.time()
    timeline.start(actuator.zero)
    time.sleep(0.4)
    payment, inventory = timeline.finish()
    # A begin may fail halfway, having changed the system: its end still runs, to restore it.
    assert payment.errors == ["begin: payment would not begin", "end: payment would not end"]
    assert ("end", "payment") in [(a, t) for a, t, _ in actuator.calls]
    assert payment.began_s is not None and payment.ended_s is None  # never known to end
    assert timeline.failed
    assert inventory.began_s is not None and inventory.ended_s is not None
    windows = {w.target: w for w in timeline.windows()}
    assert windows["payment"].end_s == float("inf")  # counted on to the end of the run
    assert windows["inventory"].end_s < 1.0


def test_finishing_early_ends_a_fault_at_once_and_skips_one_not_yet_due() -> None:
    actuator = Recording()
    timeline = Timeline((fault(0.0, 30.0), fault(20.0, 1.0, target="inventory")), actuator)
    actuator.zero = time.time()
    timeline.start(actuator.zero)
    time.sleep(0.2)
    started = time.monotonic()
    on, later = timeline.finish()
    assert time.monotonic() - started < 2.0
    assert on.ended_s is not None and on.ended_s < 2.0
    assert later.began_s is None and later.errors == []
    assert [(a, t) for a, t, _ in actuator.calls] == [("begin", "payment"), ("end", "payment")]
