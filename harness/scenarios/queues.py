"""The broker's queues while a scenario runs: each main queue's depth once a second, and the
dead-letter queues' counts at the end (how many messages were given up on).

It asks the broker itself (a passive queue.declare returns the depth), over a connection of its
own that it opens again after a broker outage; a second in which the broker does not answer is
recorded as null, so the outage shows in the series too.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from harness.broker_admin import channel
from services.kernel.broker.topology import Topology
from services.kernel.config import SERVICES

INTERVAL_S: Final = 1.0
CONNECT_TIMEOUT_S: Final = 1.0


class QueueWatch:
    """Samples the depth of every service's queue from `start()` until `stop()`."""

    def __init__(self, broker_url: str, namespace: str) -> None:
        self._url = broker_url
        self._topology = Topology(namespace)
        self._zero = 0.0
        self.series: list[dict[str, Any]] = []  # {"t": s from zero, "depths": {service: n}|None}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, zero: float) -> None:
        self._zero = zero
        self._thread = threading.Thread(target=self._run, name="queue-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        """Max depth per queue over the run, the series, and what each DLQ holds now."""
        peaks: dict[str, int] = {}
        for point in self.series:
            for service, depth in (point["depths"] or {}).items():
                peaks[service] = max(peaks.get(service, 0), depth)
        return {
            "max_depth": peaks,
            "unreachable_s": sum(1 for point in self.series if point["depths"] is None),
            "dead_lettered": self.dead_lettered(),
            "series": self.series,
        }

    def dead_lettered(self) -> dict[str, int] | None:
        try:
            with channel(self._url, CONNECT_TIMEOUT_S) as ch:
                return {s: _depth(ch, self._topology.dlq(s)) for s in SERVICES}
        except (pika.exceptions.AMQPError, OSError):
            return None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with channel(self._url, CONNECT_TIMEOUT_S) as ch:
                    while not self._stopping.is_set():
                        self._record({s: _depth(ch, self._topology.queue(s)) for s in SERVICES})
                        self._stopping.wait(INTERVAL_S)
            except (pika.exceptions.AMQPError, OSError):
                self._record(None)  # the broker is down (or just came back): try again
                self._stopping.wait(INTERVAL_S)

    def _record(self, depths: dict[str, int] | None) -> None:
        self.series.append({"t": round(time.time() - self._zero, 2), "depths": depths})


def _depth(channel: BlockingChannel, queue: str) -> int:
    return int(channel.queue_declare(queue, passive=True).method.message_count)
