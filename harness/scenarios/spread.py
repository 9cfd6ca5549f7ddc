"""The requests each replica of a service received in a style's run, and its share of the
service's: the balancing of the style, from the telemetry sampler's readings of every replica
(harness/telemetry/sampler.py; each reading's `requests` are totals since the process started).

A replica's requests are the sum of what its totals grew by from one reading to the next; a
total that went down is a process started again (a crash fault), whose count starts from zero,
so its growth is the new total. A second the replica did not answer adds nothing then, and its
requests show up in the next reading it answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def replica_spread(points: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """service -> replica -> {requests, share, by_kind}; {} without replicas."""
    grown: dict[str, dict[str, dict[str, int]]] = {}
    last: dict[str, dict[str, int]] = {}
    for point in points:
        for service, readings in point.get("replicas", {}).items():
            for replica, reading in readings.items():
                totals = reading.get("requests")
                by_kind = grown.setdefault(service, {}).setdefault(replica, {})
                if not totals:
                    continue
                before = last.get(replica, {})
                for kind, total in totals.items():
                    earlier = before.get(kind, 0)
                    by_kind[kind] = by_kind.get(kind, 0) + (
                        total - earlier if total >= earlier else total
                    )
                last[replica] = dict(totals)
    return {service: _shares(replicas) for service, replicas in grown.items()}


def _shares(replicas: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, Any]]:
    counts = {replica: sum(kinds.values()) for replica, kinds in replicas.items()}
    total = sum(counts.values())
    return {
        replica: {
            "requests": counts[replica],
            "share": round(counts[replica] / total, 4) if total else None,
            "by_kind": dict(sorted(replicas[replica].items())),
        }
        for replica in sorted(replicas)
    }
