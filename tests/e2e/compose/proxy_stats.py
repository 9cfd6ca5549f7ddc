"""HAProxy's statistics as the proxy of compose.yaml keeps them (`python -m
tests.e2e.compose.proxy_stats`, in a container on the stack's network): per backend, each
replica it found by DNS with its state and the requests it took. Prints one JSON document."""

from __future__ import annotations

import csv
import io
import json

import httpx

STATS_CSV = "http://proxy:8404/;csv"


def main() -> None:
    text = httpx.get(STATS_CSV, timeout=10.0).text.removeprefix("# ")
    backends: dict[str, list[dict[str, object]]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["svname"] in ("FRONTEND", "BACKEND") or row["pxname"] == "stats":
            continue
        if row["status"].startswith("MAINT"):  # a slot of server-template with no replica in it
            continue
        taken = row.get("req_tot") or row["stot"]
        backends.setdefault(row["pxname"], []).append(
            {"server": row["svname"], "status": row["status"], "requests": int(taken or 0)}
        )
    print(json.dumps(backends))


if __name__ == "__main__":
    main()
