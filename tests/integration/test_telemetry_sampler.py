"""harness/telemetry/sampler.py against a real order service process: once a second it reads
the breaker, the faults injected, the outbox and the notifications owed from /metrics, and the
process's CPU and memory from /proc; a killed service reads as not answering, without CPU."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.clients.faults import FaultControl
from harness.telemetry.sampler import TelemetrySampler
from services.kernel.config import port_variable
from tests.integration.test_service_process import TOKEN, service_env

ORDER = {
    "customer_id": "ada",
    "items": [{"sku": "KB-MECH", "quantity": 1}],
    "payment_token": "tok_visa",
}


@pytest.fixture
def order(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str]]]:
    """The order service alone (inventory is down), resilient, with a breaker that opens after
    four failed calls, and its control endpoint."""
    env = service_env(
        tmp_path,
        "order",
        {
            "ORDERFLOW_PROFILE": "resilient",
            "ORDERFLOW_BREAKER_WINDOW": "4",
            "ORDERFLOW_BREAKER_RESET_S": "60",
            "ORDERFLOW_CONTROL_TOKEN": TOKEN,
        },
    )
    with (tmp_path / "order.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.order.main"], env=env, stdout=log, stderr=log
        )
    try:
        yield process, env
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def wait_until_answering(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/health", timeout=5, trust_env=False)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "order did not start"
            time.sleep(0.05)


def last(sampler: TelemetrySampler, after: int) -> dict[str, Any]:
    """The order service's reading of the first point read after the `after`-th."""
    deadline = time.monotonic() + 10
    while len(sampler.points) <= after:
        assert time.monotonic() < deadline, "the sampler stopped reading"
        time.sleep(0.05)
    reading: dict[str, Any] = sampler.points[-1]["services"]["order"]
    return reading


@pytest.mark.timeout(90)
def test_the_sampler_reads_a_real_services_patterns_cpu_and_memory_once_a_second(
    order: tuple[subprocess.Popen[bytes], dict[str, str]],
) -> None:
    process, env = order
    url = f"http://127.0.0.1:{env[port_variable('order', 'http')]}"
    wait_until_answering(url)
    with TelemetrySampler({"order": url}, lambda: {"order": process.pid}) as sampler:
        sampler.start()
        first = last(sampler, 0)
        assert first["answered"] and first["breakers"] == {"inventory": 0, "payment": 0}
        assert first["faults_injected"] == 0 and first["rss_mb"] > 10
        for _ in range(6):  # inventory is down: each order fails its reservation
            httpx.post(f"{url}/orders", json=ORDER, timeout=30, trust_env=False)
        control = FaultControl(int(env[port_variable("order", "control")]), TOKEN)
        control.set("order.place", error_rate=1.0)
        httpx.post(f"{url}/orders", json=ORDER, timeout=30, trust_env=False)
        seen = last(sampler, len(sampler.points))
        assert seen["breakers"]["inventory"] == 2, seen  # open
        assert seen["faults_injected"] == 1
        assert seen["cpu_cores"] is not None
        # It placed orders: some CPU over the readings (whole 10 ms ticks, so not in each one).
        assert sum(point["services"]["order"]["cpu_cores"] or 0 for point in sampler.points) > 0
        assert "outbox_backlog" in seen and "notifications_owed" in seen
        process.kill()
        process.wait(timeout=10)
        gone = last(sampler, len(sampler.points))
    assert gone == {"answered": False, "cpu_cores": None, "rss_mb": None}
    times = [point["at"] for point in sampler.points]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.5 < gap < 2.5 for gap in gaps), gaps  # once a second, give or take the load
    section = sampler.section(times[0])
    assert section["series"][0]["t"] == 0.0 and section["interval_s"] == 1.0
