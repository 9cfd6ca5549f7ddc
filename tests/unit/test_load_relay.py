"""relay.py's master side: it writes what workers send, and fails the run when a worker that
started recording sends no samples, or fewer workers than expected did (a real Locust master
runner, in a child process: importing Locust patches the standard library for gevent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.stack.ports import free_ports
from tests.unit.locust_child import json_from_child

SCRIPT = r"""
import argparse
import json

from locust import User, task
from locust.env import Environment
from locust.rpc import Message

from harness.load import relay

relay.DELIVERY_MARGIN_S = 0.3  # no worker will come: do not wait the half-minute for it
folder, ports = @FOLDER@, iter(@PORTS@)


class Nobody(User):
    @task
    def nothing(self):
        pass


def document(worker):
    return {"format": 1, "style": "rest", "phase": "load", "started_at": 1.0,
            "samples": [[0.1, "browse_catalog", 2.0, None]], "accepted": [worker]}


def case(name, started, delivered, expected_workers=2):
    environment = Environment(user_classes=[Nobody], stop_timeout=0)
    environment.parsed_options = argparse.Namespace(
        orderflow_workers=expected_workers, orderflow_samples=f"{folder}/{name}"
    )
    runner = environment.create_master_runner("127.0.0.1", next(ports))
    try:
        master = relay._Master(environment)
        for worker in started:
            master.on_started(Message("orderflow_started", {"at": 1.0}, worker))
        master.on_stopping()
        for worker in delivered:
            master.on_samples(Message("orderflow_samples", document(worker), worker))
        master.on_stop()
        return environment.process_exit_code
    finally:
        runner.quit()


print(json.dumps({
    "whole": case("whole", ["host_a", "host/b"], ["host_a", "host/b"]),
    "one_missing": case("one_missing", ["host_a", "host_b"], ["host_a"]),
    "too_few": case("too_few", ["host_a"], ["host_a"]),
}))
"""


@pytest.fixture(scope="module")
def exit_codes(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("relay")
    script = SCRIPT.replace("@FOLDER@", repr(str(folder)))
    script = script.replace("@PORTS@", repr(free_ports(3, "127.0.0.1")))
    found: dict[str, Any] = json_from_child(script)
    return found, folder


def test_every_workers_samples_written_beside_each_other(
    exit_codes: tuple[dict[str, Any], Path],
) -> None:
    codes, folder = exit_codes
    assert codes["whole"] is None  # Locust's own exit code stands
    written = sorted(path.name for path in (folder / "whole").iterdir())
    assert written == ["samples-load-host_a.json", "samples-load-host_b.json"]  # ids made safe


def test_a_worker_that_started_and_sent_no_samples_fails_the_run(
    exit_codes: tuple[dict[str, Any], Path],
) -> None:
    codes, folder = exit_codes
    assert codes["one_missing"] == 3
    assert [path.name for path in (folder / "one_missing").iterdir()] == [
        "samples-load-host_a.json"
    ]


def test_fewer_workers_than_expected_fail_the_run(exit_codes: tuple[dict[str, Any], Path]) -> None:
    assert exit_codes[0]["too_few"] == 3
