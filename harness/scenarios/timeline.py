"""Runs a scenario's faults on time: each on a thread of its own that waits for its start,
begins it, waits for its end and ends it, recording when each really began and ended (a crashed
service's end is when its restart is ready, which is later than planned).

Times are seconds from `zero`, the moment the load generator started (see harness/load/recorder).
A fault that fails to begin or end is recorded with its error; the run goes on without it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from harness.scenarios.phases import Window
from harness.scenarios.spec import FaultSpec

# Longer than any fault's end can take: a restart waits up to 60 s for readiness, a slow start
# its own duration on top (the scenario checks fault durations against the run's length).
JOIN_TIMEOUT_S: Final = 300.0


class Actuator(Protocol):
    def begin(self, fault: FaultSpec) -> None: ...

    def end(self, fault: FaultSpec) -> None: ...


@dataclass
class Happened:
    fault: FaultSpec
    began_s: float | None = None
    ended_s: float | None = None
    errors: list[str] = field(default_factory=list)

    def window(self) -> Window | None:
        """When the fault was on; one that never ended counts to the end of the run."""
        if self.began_s is None:
            return None
        end = self.ended_s if self.ended_s is not None else float("inf")
        return Window(self.fault.target, self.began_s, end)

    def to_json(self) -> dict[str, Any]:
        fault = self.fault
        return {
            "target": fault.target,
            "kind": fault.kind,
            "params": dict(fault.params),
            "description": fault.describe(),
            "planned_s": [fault.at_s, fault.ends_s],
            "began_s": None if self.began_s is None else round(self.began_s, 2),
            "ended_s": None if self.ended_s is None else round(self.ended_s, 2),
            "errors": self.errors,
        }


class Timeline:
    def __init__(self, faults: tuple[FaultSpec, ...], actuator: Actuator) -> None:
        self._actuator = actuator
        self.happened = [Happened(fault) for fault in faults]
        self._hurry = threading.Event()  # the load ended early: end every fault now
        self._threads: list[threading.Thread] = []
        self._zero = 0.0

    def start(self, zero: float) -> None:
        self._zero = zero
        for happened in self.happened:
            thread = threading.Thread(target=self._run, args=(happened,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def finish(self) -> list[Happened]:
        """Wait for every fault to have ended (ending at once those still waiting); one still
        ending after `JOIN_TIMEOUT_S` is recorded as an error rather than waited for."""
        self._hurry.set()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for thread, happened in zip(self._threads, self.happened, strict=True):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                happened.errors.append(f"still ending after {JOIN_TIMEOUT_S:g} s")
        return self.happened

    @property
    def failed(self) -> bool:
        return any(happened.errors for happened in self.happened)

    def windows(self) -> list[Window]:
        return [w for happened in self.happened if (w := happened.window()) is not None]

    def _run(self, happened: Happened) -> None:
        fault = happened.fault
        if self._wait_until(fault.at_s):
            return  # the load ended before this fault was due: it never began
        # From the first attempt: a begin that fails halfway (a slow start that stopped the
        # service, then could not start it) has changed the system all the same.
        happened.began_s = self._now()
        self._act(happened, self._actuator.begin)
        self._wait_until(fault.ends_s)
        if self._act(happened, self._actuator.end):  # also after a failed begin: restore
            happened.ended_s = self._now()  # after a restart: once the service is ready again

    @staticmethod
    def _act(happened: Happened, action: Callable[[FaultSpec], None]) -> bool:
        try:
            action(happened.fault)
        except Exception as error:  # recorded in the results: the run goes on
            happened.errors.append(f"{action.__name__}: {error}")
            return False
        return True

    def _wait_until(self, at_s: float) -> bool:
        """Sleep until `at_s`; True if the load ended first."""
        return self._hurry.wait(max(0.0, self._zero + at_s - time.time()))

    def _now(self) -> float:
        return time.time() - self._zero
