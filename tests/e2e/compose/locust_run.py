"""A short run of Locust in distributed mode, driven through the master's web API as a user of
its UI would (`python -m tests.e2e.compose.locust_run <users> <seconds> <class>...`, in a
container on the stack's network): start the chosen user classes, note how many workers took
users while it ran, wait for the run time to end, and print one JSON document with the master's
final statistics. The test makes the assertions."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx

MASTER = "http://locust-master:8089"
HOST = "http://proxy:8000"
SETTLE_S = 60.0  # beyond the run time: spawning, then the users' last requests


def main(users: int, seconds: int, classes: list[str]) -> None:
    with httpx.Client(base_url=MASTER, timeout=10.0) as master:
        form = {"user_count": users, "spawn_rate": users, "host": HOST, "run_time": f"{seconds}s"}
        started = master.post("/swarm", data={**form, "user_classes": classes}).json()
        busy_workers = 0
        deadline = time.monotonic() + seconds + SETTLE_S
        report: dict[str, Any] = {}
        while time.monotonic() < deadline:
            time.sleep(2)
            report = master.get("/stats/requests").json()
            working = [w for w in report.get("workers", []) if w["user_count"] > 0]
            busy_workers = max(busy_workers, len(working))
            if report["state"] == "stopped":
                break
        print(json.dumps({"started": started, "busy_workers": busy_workers, "report": report}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
