"""Running code that imports Locust in a child process: importing locust monkey-patches the
standard library for gevent, which inside pytest comes too late (and warns). The child prints
one JSON document; the tests assert on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def json_from_child(script: str) -> Any:
    child = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)
