"""When each task is due: as fast as the users can go (closed model), or on a fixed schedule of
arrivals (open model).

In the open model every task has a due time on a schedule of `rate` arrivals per second, kept
whether or not the system answers; latency is measured from that due time. A user that is late
because the system stalled starts its task at once, and the lateness counts: the
coordinated-omission correction wrk2 applies. Measuring from the actual start instead would let
a stalled system hide its stall, since nobody sends while it stalls.

A surge (the traffic-spike scenario) multiplies the rate for a window of the run: the schedule
then holds `factor` times as many arrivals a second from `at_s` for `duration_s`.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Surge:
    """The rate times `factor` from `at_s` for `duration_s` (seconds from the schedule's start)."""

    at_s: float
    duration_s: float
    factor: float

    def __post_init__(self) -> None:
        if self.at_s < 0 or self.duration_s <= 0 or self.factor <= 0:
            raise ValueError(f"a surge needs at >= 0, duration > 0 and factor > 0: {self}")

    @classmethod
    def parse(cls, text: str) -> Surge:
        """From `AT,DURATION,FACTOR` (seconds, seconds, times), as the Locust option takes it."""
        try:
            at_s, duration_s, factor = (float(part) for part in text.split(","))
        except ValueError:
            raise ValueError(
                f"a surge is AT,DURATION,FACTOR (like 15,10,4), not {text!r}"
            ) from None
        return cls(at_s, duration_s, factor)

    def elapsed(self, arrivals: float) -> float:
        """Seconds after the start at which `arrivals` (in base-rate seconds) have been due."""
        if arrivals <= self.at_s:
            return arrivals
        inside = self.duration_s * self.factor
        if arrivals <= self.at_s + inside:
            return self.at_s + (arrivals - self.at_s) / self.factor
        return arrivals - inside + self.duration_s

    def arrivals(self, elapsed: float) -> float:
        """The inverse: base-rate seconds of arrivals due `elapsed` seconds after the start."""
        if elapsed <= self.at_s:
            return elapsed
        if elapsed <= self.at_s + self.duration_s:
            return self.at_s + (elapsed - self.at_s) * self.factor
        return elapsed + self.duration_s * (self.factor - 1)


class OpenArrivals:
    """The shared schedule of one load-generator process: task k is due at start + k / rate."""

    def __init__(
        self, rate_per_s: float, start: float | None = None, surge: Surge | None = None
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"the arrival rate must be positive, not {rate_per_s}")
        self.rate_per_s = rate_per_s
        self.start = time.time() if start is None else start
        self.surge = surge
        self._next = 0
        self._lock = threading.Lock()  # a real lock, or a greenlet-aware one under gevent

    def take(self) -> float:
        """The due time (epoch seconds) of the next task on the schedule."""
        with self._lock:
            slot, self._next = self._next, self._next + 1
        return self._due(slot)

    def never_taken(self, until: float) -> list[float]:
        """The due times up to `until` that no user took: every user was busy. They are part
        of the offered load, so the run must count them (as failures), not drop them."""
        elapsed = until - self.start
        due = elapsed if self.surge is None else self.surge.arrivals(elapsed)
        with self._lock:
            first, last = self._next, math.floor(due * self.rate_per_s)
        return [self._due(slot) for slot in range(first, last + 1)]

    def _due(self, slot: int) -> float:
        base = slot / self.rate_per_s
        return self.start + (base if self.surge is None else self.surge.elapsed(base))


def process_share(rate_per_s: float, processes: int) -> float:
    """Each of `processes` load-generator processes keeps an equal share of the schedule."""
    return rate_per_s / max(1, processes)
