"""Keeps every sample of one Locust process and writes them for `orderflow bench`, which merges
the processes and computes exact percentiles per operation and per second.

Locust's own statistics round latencies and its per-second history holds percentiles over a
sliding window; the bench wants the raw samples. The file format is read by
harness/bench/results.py: {"format": 1, "style", "phase", "started_at",
"samples": [[offset_s, operation, latency_ms, error or null], ...], "accepted": [key, ...]}.

`accepted` holds the idempotency key of every order the system accepted (each `order_completed`
report, failed or not, follows an accepted place): the audit after a run looks for each in the
order store, and one it cannot find is a lost order.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Sends a kind of message and its data to the master (harness/load/relay.py), for a worker on
# another machine; None: this process writes and prints itself.
Relay = Callable[[str, dict[str, Any]], None]

FORMAT = 1
PROGRESS_PREFIX = "orderflow-progress"
STARTED_PREFIX = "orderflow-started"
# What a remote worker sends its master instead (harness/load/relay.py): Locust message kinds.
STARTED_MESSAGE = "orderflow_started"
PROGRESS_MESSAGE = "orderflow_progress"
SAMPLES_MESSAGE = "orderflow_samples"


class Recorder:
    def __init__(self, folder: Path, style: str, phase: str, relay: Relay | None = None) -> None:
        self._folder = folder
        self._relay = relay
        self._style = style
        self._phase = phase
        self._started_at = time.time()
        self._samples: list[list[Any]] = []
        self._accepted: list[str] = []
        self._written = False
        self._last_count = 0
        self._last_tick = self._started_at

    def on_request(
        self,
        name: str,
        response_time: float,
        exception: BaseException | None = None,
        start_time: float | None = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        offset = (start_time if start_time is not None else time.time()) - self._started_at
        error = None if exception is None else _describe(exception)
        self._samples.append([round(offset, 4), name, round(response_time, 3), error])
        key = (context or {}).get("idempotency_key")
        if isinstance(key, str):
            self._accepted.append(key)

    def announce(self) -> None:
        """One line on stderr when the load starts: a fault timeline runs from this moment."""
        if self._relay is not None:
            self._relay(STARTED_MESSAGE, {"at": self._started_at})
            return
        line = f"{STARTED_PREFIX} pid={os.getpid()} at={self._started_at:.6f}"
        print(line, file=sys.stderr, flush=True)

    def progress(self) -> None:
        """One line a second on stderr for the bench's progress display."""
        now = time.time()
        count = len(self._samples)
        rate = (count - self._last_count) / max(now - self._last_tick, 1e-6)
        self._last_count, self._last_tick = count, now
        if self._relay is not None:
            elapsed = now - self._started_at
            self._relay(PROGRESS_MESSAGE, {"elapsed": elapsed, "rps": rate, "samples": count})
            return
        line = f"{PROGRESS_PREFIX} pid={os.getpid()} elapsed={now - self._started_at:.1f} "
        print(line + f"rps={rate:.1f} samples={count}", file=sys.stderr, flush=True)

    def write(self) -> Path | None:
        """Write the samples (or send them to the master); once, whoever asks again."""
        if self._written:
            return None
        self._written = True
        if self._relay is not None:
            self._relay(SAMPLES_MESSAGE, self.document())
            return None
        return write_document(self._folder, str(os.getpid()), self.document())

    def document(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "style": self._style,
            "phase": self._phase,
            "started_at": self._started_at,
            "samples": self._samples,
            "accepted": self._accepted,
        }


def write_document(folder: Path, writer: str, document: dict[str, Any]) -> Path:
    """One process's samples as `samples-<phase>-<writer>.json` (a pid, or a remote worker's
    id: the master writes those it is sent)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples-{document['phase']}-{writer}.json"
    path.write_text(json.dumps(document, separators=(",", ":")))
    return path


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."
