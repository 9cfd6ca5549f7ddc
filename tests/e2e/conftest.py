"""The real stack for end-to-end tests: four service processes on free ports, fresh databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.supervisor import Stack, StackConfig

# Short enough that a test holding a service paused sees the saga react, long enough for CI.
E2E_ENV = {"ORDERFLOW_CALL_TIMEOUT_S": "10", "ORDERFLOW_RECOVERY_INTERVAL_S": "0.5"}


def start_stack(data_dir: Path) -> Stack:
    stack = Stack(StackConfig.on_free_ports(data_dir, extra_env=E2E_ENV))
    stack.start(reset=True, timeout_s=60)
    return stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client
