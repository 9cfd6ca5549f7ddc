"""Reads every service of a stack once a second while a run's load goes on: its resilience
patterns from `/metrics` (harness/telemetry/scrape.py) and its CPU and memory from /proc
(harness/bench/cpu.py, the reading the bench's CPU figures use too).

The sampler runs on a thread of its own from `start()` until `stop()`; each point is stamped
with the epoch at which it was read, and `section(zero)` gives the series in seconds from the
load's start, as results.json holds it. A service that does not answer reads as not answered
(a crash, a pause: the series shows it); a process that is gone has no CPU or memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from harness.bench.cpu import PROC, clock_ticks, cpu_seconds, page_size, resident_bytes
from harness.telemetry import scrape

INTERVAL_S: Final = 1.0
# Less than the interval: a paused service must not hold up the reading of the others for long.
TIMEOUT_S: Final = 0.5
MB: Final = 1024 * 1024

Pids = Callable[[], Mapping[str, int]]


@dataclass
class _Process:
    """The CPU reading of one process at the previous point, to turn totals into a rate."""

    pid: int
    cpu_s: float
    at: float


@dataclass
class TelemetrySampler:
    """`services`: each service's HTTP address; `pids`: each one's process id now (a service
    restarted by a crash fault has a new one), empty for a stack someone else started.
    `replicas`: with several replicas per service, each one's own HTTP address by its name
    (`Stack.replicas`, `Stack.replica_urls`), read one by one as well (a service's own address
    is then the proxy's, which answers from any replica); `pids` then by replica name."""

    services: Mapping[str, str]
    pids: Pids = dict
    interval_s: float = INTERVAL_S
    proc: Path = PROC
    points: list[dict[str, Any]] = field(default_factory=list)
    replicas: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    _last: dict[str, _Process] = field(default_factory=dict)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> TelemetrySampler:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self, _zero: float | None = None) -> None:
        """Begin sampling (a Locust `on_start` callback: the load's start is given, unused)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def section(self, zero: float) -> dict[str, Any]:
        """results.json's `telemetry` of a style: the points in seconds from `zero`."""
        return {
            "interval_s": self.interval_s,
            "started_at": zero,
            "series": [
                {
                    "t": round(point["at"] - zero, 2),
                    "services": point["services"],
                    **({"replicas": point["replicas"]} if "replicas" in point else {}),
                }
                for point in self.points
            ],
        }

    def _run(self) -> None:
        ticks, page = clock_ticks(), page_size()
        with httpx.Client(trust_env=False) as client:
            due = time.monotonic()
            while not self._stopping.is_set():
                self.points.append(self.sample(client, ticks, page))
                due += self.interval_s
                # On the second, not a second after each reading: a slow read does not drift.
                due = max(due, time.monotonic())
                if self._stopping.wait(due - time.monotonic()):
                    break

    def sample(self, client: httpx.Client, ticks: int, page: int) -> dict[str, Any]:
        """One point: every service's patterns, CPU (cores used since the last point) and
        memory."""
        at = time.time()
        try:
            pids = self.pids()
        except LookupError:  # a service not (re)started: its process is not known this second
            pids = {}

        def read(name: str, url: str) -> dict[str, Any]:
            return self._reading(client, name, url, pids.get(name), at, ticks, page)

        point: dict[str, Any] = {
            "at": at,
            "services": {service: read(service, url) for service, url in self.services.items()},
        }
        if self.replicas:
            point["replicas"] = {
                service: {name: read(name, url) for name, url in urls.items()}
                for service, urls in self.replicas.items()
            }
        return point

    def _reading(
        self,
        client: httpx.Client,
        name: str,
        url: str,
        pid: int | None,
        at: float,
        ticks: int,
        page: int,
    ) -> dict[str, Any]:
        found = scrape.read(client, url, TIMEOUT_S)
        reading: dict[str, Any] = {"answered": found is not None, **(found or {})}
        return reading | (self._process(name, pid, at, ticks, page) if pid else {})

    def _process(self, service: str, pid: int, at: float, ticks: int, page: int) -> dict[str, Any]:
        cpu_s = cpu_seconds(pid, self.proc, ticks)
        rss = resident_bytes(pid, self.proc, page)
        last = self._last.pop(service, None)
        cores = None
        if cpu_s is not None:
            self._last[service] = _Process(pid, cpu_s, at)
            if last is not None and last.pid == pid and at > last.at:
                cores = round(max(cpu_s - last.cpu_s, 0.0) / (at - last.at), 3)
        return {"cpu_cores": cores, "rss_mb": None if rss is None else round(rss / MB, 1)}
