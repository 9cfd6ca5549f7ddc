"""HAProxy's statistics as the proxy of compose.yaml keeps them (`python -m
tests.e2e.compose.proxy_stats`, in a container on the stack's network): per backend, each
replica it found by DNS with its state and the requests it took. Prints one JSON document.

The reading waits (up to `SETTLE_S`) for one where every replica is plainly `UP`: on a busy
2-core machine one health check can miss its 2 s (HAProxy then shows `UP 1/2`, still in the
rotation, and `UP` again at the next check). A replica that stays out or keeps failing is still
printed as HAProxy last saw it, for the test to report."""

from __future__ import annotations

import csv
import io
import json
import time

import httpx

STATS_CSV = "http://proxy:8404/;csv"
SETTLE_S = 20.0
UP = "UP"

Backends = dict[str, list[dict[str, object]]]


def reading() -> Backends:
    text = httpx.get(STATS_CSV, timeout=10.0).text.removeprefix("# ")
    backends: Backends = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["svname"] in ("FRONTEND", "BACKEND") or row["pxname"] == "stats":
            continue
        if row["status"].startswith("MAINT"):  # a slot of server-template with no replica in it
            continue
        taken = row.get("req_tot") or row["stot"]
        backends.setdefault(row["pxname"], []).append(
            {"server": row["svname"], "status": row["status"], "requests": int(taken or 0)}
        )
    return backends


def all_up(backends: Backends) -> bool:
    return all(s["status"] == UP for servers in backends.values() for s in servers)


def settled_reading(settle_s: float = SETTLE_S) -> Backends:
    deadline = time.monotonic() + settle_s
    backends = reading()
    while not all_up(backends) and time.monotonic() < deadline:
        time.sleep(0.5)
        backends = reading()
    return backends


def main() -> None:
    print(json.dumps(settled_reading()))


if __name__ == "__main__":
    main()
