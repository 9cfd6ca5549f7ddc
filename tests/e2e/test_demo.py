"""`orderflow demo`, the README's main command, run as a user runs it (on free ports)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.supervisor import StackConfig

pytestmark = pytest.mark.e2e


def test_demo_shows_the_three_outcomes_and_stops_the_stack(tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(tmp_path)
    env = config.environment(os.environ)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "demo", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for outcome in (
        "201 CONFIRMED",
        "201 CANCELLED (PAYMENT_DECLINED)",
        "201 REJECTED (OUT_OF_STOCK)",
    ):
        assert outcome in done.stdout
    assert "FAIL" not in done.stdout and "Every outcome was as expected." in done.stdout
    assert done.stdout.rstrip().endswith("Stack stopped.")
