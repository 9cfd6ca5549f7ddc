"""Small results folders for the report's tests, built by the code that builds real ones.

The style results come from harness.bench.results.style_result and the failure isolation from
harness.scenarios.phases.isolation, fed with synthetic samples of known latencies, so the
documents have a real run's shape (the tests check them against docs/results.schema.json) and
numbers a test can predict: every second, 3 catalog browses of 5 ms, 2 orders placed in 20 ms
and completed in 40 ms, and 1 order lookup of 3 ms.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from harness.bench.cost import cpu_section
from harness.bench.results import Sample, results_document, run_meta, style_result
from harness.scenarios.phases import Window, isolation
from harness.vocabulary import AUDIT_COUNTS

T0 = 1_795_432_000.0
SECONDS = 14
CALIBRATION_S = 2.0
LOAD_GENERATOR: dict[str, Any] = {
    "cpu_s": 1.5,
    "cpu_cores": 0.15,
    "processes": 1,
    "saturated": False,
    "warnings": [],
}
WARMUP_S = 2.0
CPU_SPENT: dict[str, float | None] = {
    "order": 0.06,
    "inventory": 0.03,
    "payment": 0.02,
    "notification": 0.01,
    "locust": 0.04,
}
NOT_COUNTED = {"rabbitmq": "not a process this bench started"}
FAULT = Window("payment", 4.0, 7.5)
FAULT_DESCRIPTION = "payment crash at 4s for 3s"


def second_of_samples(
    second: int, order_ms: float = 40.0, error: str | None = None
) -> list[Sample]:
    at = T0 + second + 0.1
    return [
        *(Sample(at, "browse_catalog", 5.0, None) for _ in range(3)),
        *(Sample(at, "place_order", 20.0, None) for _ in range(2)),
        *(Sample(at, "order_completed", order_ms, error) for _ in range(2)),
        Sample(at, "get_order", 3.0, None),
    ]


def load_samples(slow: range = range(0), failing: range = range(0)) -> list[Sample]:
    """SECONDS seconds of the mix; orders take 900 ms in `slow` seconds, fail in `failing`."""
    return [
        sample
        for second in range(SECONDS)
        for sample in second_of_samples(
            second,
            900.0 if second in slow else 40.0,
            "HTTP 503: payment unavailable" if second in failing else None,
        )
    ]


def noop_samples() -> list[Sample]:
    return [Sample(T0 - 3 + i / 100, "noop", 1.0, None) for i in range(200)]


def audit(**counts: int) -> dict[str, Any]:
    return {
        "counts": {name: counts.get(name, 0) for name in AUDIT_COUNTS},
        "orders": {"CONFIRMED/-": 20},
        "payments": {"CHARGED": 20},
        "accepted": 20,
        "examples": {name: [f"an example of {name}"] for name, n in counts.items() if n},
        "waited_s": 0.0,
    }


def plain_style(**counts: int) -> dict[str, Any]:
    result = style_result(
        load_samples(), noop_samples(), SECONDS, CALIBRATION_S, LOAD_GENERATOR, LOAD_GENERATOR
    )
    result["audit"] = audit(**counts)
    noop = {"server_ms": 0.12, "client_ms": 0.3}
    result["calibration"]["cpu_ms_per_call"] = noop
    result["cpu"] = cpu_section("rest", CPU_SPENT, 20, noop, 0.015, NOT_COUNTED)
    return result


def meta(
    command: str, calibration_s: float | None = CALIBRATION_S, users: int = 5
) -> dict[str, Any]:
    found = run_meta(
        "20261123-111259-1b0d",
        command,
        "own stack (broker namespace bench-242505a69c)",
        "naive",
        model="closed",
        users=users,
        rate=None,
        duration_s=float(SECONDS),
        calibration_s=calibration_s,
        processes=1,
    )
    found["started_at"] = "2026-11-23T11:13:02+00:00"
    found["machine"] = {"cpus": 2, "python": "3.11.7", "platform": "Linux-x86_64"}
    return found


def plain_document(
    styles: tuple[str, ...] = ("rest", "broker"), /, **counts: int
) -> dict[str, Any]:
    """A plain bench run; `counts` are audit counts of the last style."""
    results = {style: plain_style() for style in styles}
    results[styles[-1]] = plain_style(**counts)
    command = f"orderflow bench --duration {SECONDS}s --calibration 2s --users 5"
    return results_document(meta(command), results)


def scenario_samples(style: str) -> list[Sample]:
    """A payment crash from 4 s to 7.5 s: the broker style's orders wait it out (900 ms), the
    others' fail meanwhile."""
    faulted = range(4, 8)
    return load_samples(slow=faulted) if style == "broker" else load_samples(failing=faulted)


def scenario_style(style: str, /, **counts: int) -> dict[str, Any]:
    samples = scenario_samples(style)
    result = style_result(samples, None, SECONDS, None, LOAD_GENERATOR)
    result["audit"] = audit(**counts)
    found = isolation(style, samples, T0, [FAULT], WARMUP_S, SECONDS)
    zero_expected = [n for n in AUDIT_COUNTS if n != "duplicate_notifications"]
    result["scenario"] = {
        "faults": [
            {
                "target": "payment",
                "kind": "crash",
                "params": {},
                "description": FAULT_DESCRIPTION,
                "planned_s": [4.0, 7.0],
                "began_s": FAULT.start_s,
                "ended_s": FAULT.end_s,
                "errors": [],
            }
        ],
        **found,
        "broker": {
            "max_depth": {"payment": 3},
            "max_notifications_owed": 5,
            "unreachable_s": 0,
            "dead_lettered": {"payment": 0},
            "series": [
                {
                    "t": t + 0.05,
                    "depths": {"payment": 3 if 4 <= t < 8 else 0},
                    "notifications_owed": max(0, 5 - abs(t - 6)) if t != 3 else None,
                }
                for t in range(SECONDS)
            ],
            "poison_published": 0,
        },
        "expectations": [
            {"check": f"{n} == 0", "seen": counts.get(n, 0), "passed": not counts.get(n)}
            for n in zero_expected
        ],
    }
    return result


def scenario_document(
    name: str = "payment-outage", styles: tuple[str, ...] = ("rest", "broker"), /, **counts: int
) -> dict[str, Any]:
    """A scenario run; `counts` are audit counts of the last style."""
    results = {style: scenario_style(style) for style in styles}
    results[styles[-1]] = scenario_style(styles[-1], **counts)
    document = results_document(meta(f"orderflow bench scenarios/{name}.yaml", None), results)
    document["scenario"] = {
        "name": name,
        "description": "Payment is killed at 4 s and started again at 7 s.",
        "file": f"scenarios/{name}.yaml",
        "time_scale": 1.0,
        "warmup_s": WARMUP_S,
        "grace_s": 30.0,
        "faults": [FAULT_DESCRIPTION],
    }
    return document


def write_folder(
    folder: Path, document: dict[str, Any], samples: dict[str, list[Sample]] | None = None
) -> Path:
    """A results folder: results.json and the raw load samples of the styles in `samples`, as
    `orderflow bench` leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(document, indent=2))
    for style, found in (samples or {}).items():
        write_samples(folder / style / "samples-load" / "samples-load-1.json", style, found)
    return folder


def write_samples(path: Path, style: str, samples: list[Sample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [[s.at - T0, s.operation, s.latency_ms, s.error] for s in samples]
    document = {"format": 1, "style": style, "phase": "load", "started_at": T0, "samples": rows}
    path.write_text(json.dumps(document))


def changed(document: dict[str, Any], style: str, **summary: float) -> dict[str, Any]:
    """A copy of the document with some of one style's summary replaced."""
    found = copy.deepcopy(document)
    found["styles"][style]["summary"].update(summary)
    return found


def telemetry_section(faulted: range = range(4, 8)) -> dict[str, Any]:
    """What the sampler reads in a payment crash: payment silent and without a process during
    `faulted`, order's breaker on payment open and its retries climbing meanwhile, the outbox
    backing up; the load starts at T0."""
    series = []
    retries = 0
    for t in range(SECONDS + 2):
        down = t in faulted
        retries += 3 if down else 0
        order = {
            "answered": True,
            "cpu_cores": 0.2 if t else None,
            "rss_mb": 80.0 + t,
            "breakers": {"inventory": 0, "payment": 2 if down else 0},
            "retries": retries,
            "bulkhead_rejections": 0,
            "faults_injected": 0,
            "outbox_backlog": 4 if down else 0,
            "notifications_owed": 0,
            "broker_connected": 1,
        }
        payment = (
            {"answered": False, "cpu_cores": None, "rss_mb": None}
            if down
            else {"answered": True, "cpu_cores": 0.05, "rss_mb": 60.0, "breakers": {}}
        )
        series.append({"t": t + 0.02, "services": {"order": order, "payment": payment}})
    return {"interval_s": 1.0, "started_at": T0, "series": series}
