"""The same users in Locust's web UI, as a workshop runs them: the class picker lists every
style's users, and a swarm started from the UI reports rows named by style and operation."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.bench.runner import LOCUSTFILE
from harness.stack.ports import free_ports
from harness.stack.supervisor import Stack
from tests.e2e.test_bench import stack_target

pytestmark = pytest.mark.e2e

USERS = [f"{style}{kind}" for kind in ("Shopper", "Ping") for style in
         ("Rest", "RestSse", "Grpc", "Graphql", "Websocket", "Broker", "BrokerAmqp")]  # fmt: skip


@pytest.fixture
def locust_ui(stack: Stack, tmp_path: Path) -> Iterator[str]:
    [port] = free_ports(1, "127.0.0.1")
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--class-picker",
        "--web-host", "127.0.0.1", "--web-port", str(port), "--loglevel", "WARNING",
        *stack_target(stack).locust_options(),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "locust.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(url, process)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(150):
        assert process.poll() is None, "locust's web UI exited"
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"locust's web UI did not answer at {url}")


def rows(url: str) -> dict[tuple[str, str], dict[str, Any]]:
    stats = httpx.get(f"{url}/stats/requests", timeout=5).json()["stats"]
    return {(row["method"], row["name"]): row for row in stats if row["method"]}


def test_the_class_picker_runs_any_style_from_the_ui(locust_ui: str) -> None:
    page = httpx.get(locust_ui, timeout=5).text
    assert all(user in page for user in USERS)
    swarm = httpx.post(
        f"{locust_ui}/swarm",
        data={
            "user_count": "2",
            "spawn_rate": "2",
            "user_classes": ["RestShopper", "BrokerShopper"],
        },
        timeout=10,
    )
    assert swarm.json()["success"], swarm.text
    wanted = {
        (style, op) for style in ("rest", "broker") for op in ("place_order", "order_completed")
    }
    for _ in range(100):
        seen = rows(locust_ui)
        if wanted <= seen.keys():
            break
        time.sleep(0.1)
    httpx.get(f"{locust_ui}/stop", timeout=10)
    seen = rows(locust_ui)
    assert wanted <= seen.keys(), sorted(seen)
    assert {style for style, _ in seen} == {"rest", "broker"}
    assert all(row["num_failures"] == 0 for row in seen.values()), seen
