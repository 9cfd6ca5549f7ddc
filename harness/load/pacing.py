"""When each task is due: as fast as the users can go (closed model), or on a fixed schedule of
arrivals (open model).

In the open model every task has a due time on a schedule of `rate` arrivals per second, kept
whether or not the system answers; latency is measured from that due time. A user that is late
because the system stalled starts its task at once, and the lateness counts: the
coordinated-omission correction wrk2 applies. Measuring from the actual start instead would let
a stalled system hide its stall, since nobody sends while it stalls.
"""

from __future__ import annotations

import math
import threading
import time


class OpenArrivals:
    """The shared schedule of one load-generator process: task k is due at start + k / rate."""

    def __init__(self, rate_per_s: float, start: float | None = None) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"the arrival rate must be positive, not {rate_per_s}")
        self.rate_per_s = rate_per_s
        self.start = time.time() if start is None else start
        self._next = 0
        self._lock = threading.Lock()  # a real lock, or a greenlet-aware one under gevent

    def take(self) -> float:
        """The due time (epoch seconds) of the next task on the schedule."""
        with self._lock:
            slot, self._next = self._next, self._next + 1
        return self.start + slot / self.rate_per_s

    def never_taken(self, until: float) -> list[float]:
        """The due times up to `until` that no user took: every user was busy. They are part
        of the offered load, so the run must count them (as failures), not drop them."""
        with self._lock:
            first, last = self._next, math.floor((until - self.start) * self.rate_per_s)
        return [self.start + slot / self.rate_per_s for slot in range(first, last + 1)]


def process_share(rate_per_s: float, processes: int) -> float:
    """Each of `processes` load-generator processes keeps an equal share of the schedule."""
    return rate_per_s / max(1, processes)
