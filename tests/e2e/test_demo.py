"""`orderflow demo`, the README's main command, run as a user runs it (on free ports)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pika.exceptions
import pytest

from harness.rabbit.admin import delete_topology
from harness.stack.supervisor import StackConfig
from harness.vocabulary import STYLES
from services.kernel.broker.topology import Topology
from tests.e2e.conftest import broker_env

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(240)
def test_demo_shows_the_outcomes_in_every_style_and_stops_the_stack(tmp_path: Path) -> None:
    broker = broker_env()  # its own namespace on the machine's broker, removed afterwards
    config = StackConfig.on_free_ports(tmp_path, extra_env=broker)
    env = config.environment(os.environ)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "demo", "--data-dir", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=220,
            check=False,
        )
    finally:
        with contextlib.suppress(pika.exceptions.AMQPConnectionError):
            namespace = Topology(broker["ORDERFLOW_BROKER_NAMESPACE"])
            delete_topology(broker["ORDERFLOW_BROKER_URL"], namespace)
    assert done.returncode == 0, done.stdout + done.stderr
    for outcome in (
        "201 CONFIRMED",
        "201 CANCELLED (PAYMENT_DECLINED)",
        "201 REJECTED (OUT_OF_STOCK)",
    ):
        assert outcome in done.stdout
    for style in STYLES:
        assert f"ok  {style}: CONFIRMED at the catalog price, recorded as placed in {style}" in (
            done.stdout
        )
    assert "FAIL" not in done.stdout and "Every outcome was as expected." in done.stdout
    # Then the short benchmark: one row per style in the side-by-side table, and its results.
    rows = [line.split() for line in done.stdout.splitlines() if line.split()[:1]]
    assert {"rest", "grpc", "graphql", "websocket", "broker"} <= {row[0] for row in rows}
    assert (tmp_path / "bench" / "results.json").is_file()
    assert f"Report: {tmp_path / 'bench' / 'report.html'}" in done.stdout
    assert (tmp_path / "bench" / "report.md").is_file()
    assert done.stdout.rstrip().endswith("Stack stopped.")
