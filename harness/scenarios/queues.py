"""The broker's queues while a scenario runs: each main queue's depth once a second, and the
dead-letter queues' counts at the end (how many messages were given up on); with them, the order
service's backlog of notifications owed (the orchestrated styles' queue, in a table).

It asks the broker itself (a passive queue.declare returns the depth), over a connection of its
own that it opens again after a broker outage; a second in which the broker does not answer is
recorded as null, so the outage shows in the series too. The backlog is read from the order
service's /metrics (`orderflow_notifications_owed`), null while it does not answer.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

import httpx
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from prometheus_client.parser import text_string_to_metric_families

from harness.rabbit.admin import channel
from services.kernel.broker.topology import Topology
from services.kernel.config import SERVICES

INTERVAL_S: Final = 1.0
CONNECT_TIMEOUT_S: Final = 1.0
OWED_METRIC: Final = "orderflow_notifications_owed"


class QueueWatch:
    """Samples the depth of every service's queue from `start()` until `stop()`."""

    def __init__(self, broker_url: str, namespace: str, order_url: str | None = None) -> None:
        self._url = broker_url
        self._topology = Topology(namespace)
        self._order_url = order_url
        self._zero = 0.0
        # {"t": s from zero, "depths": {service: n}|None, "notifications_owed": n|None}
        self.series: list[dict[str, Any]] = []
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
        owed = [point.get("notifications_owed") or 0 for point in self.series]
        return {
            "max_depth": peaks,
            "max_notifications_owed": max(owed, default=0),
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
                        if self._stopping.wait(INTERVAL_S):  # and what is left at the stop
                            self._record({s: _depth(ch, self._topology.queue(s)) for s in SERVICES})
            except (pika.exceptions.AMQPError, OSError):
                self._record(None)  # the broker is down (or just came back): try again
                self._stopping.wait(INTERVAL_S)

    def _record(self, depths: dict[str, int] | None) -> None:
        point = {"t": round(time.time() - self._zero, 2), "depths": depths}
        if self._order_url is not None:
            point["notifications_owed"] = notifications_owed(self._order_url)
        self.series.append(point)


def notifications_owed(order_url: str) -> int | None:
    """The order service's notifications not yet acknowledged; None if it did not answer."""
    try:
        reply = httpx.get(f"{order_url}/metrics", timeout=CONNECT_TIMEOUT_S, trust_env=False)
        reply.raise_for_status()
    except httpx.HTTPError:
        return None
    for family in text_string_to_metric_families(reply.text):
        if family.name == OWED_METRIC:
            return int(sum(sample.value for sample in family.samples))
    return None


def _depth(channel: BlockingChannel, queue: str) -> int:
    return int(channel.queue_declare(queue, passive=True).method.message_count)
