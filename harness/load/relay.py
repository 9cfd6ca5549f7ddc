"""Workers on other machines (`orderflow bench --master-bind ... --expect-workers N`).

A worker started with `orderflow locust-worker` may run on another host: it cannot write its
samples into the bench's folder, nor print its start and progress lines where the bench reads
them. So, when the master says the run is distributed (`--orderflow-workers N`, which Locust
hands every worker with the rest of the master's options), each worker sends those to the master
over Locust's own connection (custom messages), and the master writes and prints them as a
local Locust process would: the bench reads one folder and one output, wherever the users ran.

The samples must reach the master before it exits. A headless master that reaches its run time
quits at once and only tells the workers to quit, so it would be gone before a worker's users
had finished their last task. Here the master first asks each worker to stop (its users finish
their tasks, its samples are sent), and waits for every worker's samples before it quits; a
worker whose samples never come makes the master exit non-zero, so the bench fails rather than
report a run with a worker's share missing.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.load.recorder import (
    PROGRESS_MESSAGE,
    PROGRESS_PREFIX,
    SAMPLES_MESSAGE,
    STARTED_MESSAGE,
    STARTED_PREFIX,
    write_document,
)

STOP: Final = "orderflow_stop"
# Beyond Locust's stop timeout (users finishing their task): the samples' trip to the master.
DELIVERY_MARGIN_S: Final = 30.0
MISSING_EXIT_CODE: Final = 3
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.-]")

log = logging.getLogger(__name__)


def workers(environment: Environment) -> int:
    """The workers of a distributed run (0: not one, or local `--processes` children)."""
    options = environment.parsed_options
    return int(getattr(options, "orderflow_workers", 0) or 0) if options is not None else 0


def relays(environment: Environment) -> bool:
    """Whether this process is a worker that sends what it records to the master."""
    return isinstance(environment.runner, WorkerRunner) and workers(environment) > 0


def send(environment: Environment, kind: str, data: dict[str, Any]) -> None:
    """From a worker to its master (the worker's `Recorder` relay)."""
    assert environment.runner is not None
    environment.runner.send_message(kind, data)


def install(environment: Environment) -> None:
    """At Locust's init: the master listens for what workers send; a worker for the stop.
    Registered in every process; only a distributed run (`--orderflow-workers`) uses them."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        master = _Master(environment)
        runner.register_message(SAMPLES_MESSAGE, master.on_samples)
        runner.register_message(STARTED_MESSAGE, master.on_started)
        runner.register_message(PROGRESS_MESSAGE, _on_progress)
        environment.events.test_stopping.add_listener(master.on_stopping)
        environment.events.test_stop.add_listener(master.on_stop)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(STOP, _on_stop_asked, concurrent=True)


@dataclass
class _Master:
    environment: Environment
    started: set[str] = field(default_factory=set)  # workers whose users started recording
    expected: set[str] = field(default_factory=set)
    received: set[str] = field(default_factory=set)

    def on_started(self, msg: Any, **_: Any) -> None:
        self.started.add(msg.node_id)
        line = f"{STARTED_PREFIX} pid={_safe(msg.node_id)} at={float(msg.data['at']):.6f}"
        print(line, file=sys.stderr, flush=True)

    def on_samples(self, msg: Any, **_: Any) -> None:
        options = self.environment.parsed_options
        folder = getattr(options, "orderflow_samples", "") if options is not None else ""
        if folder:
            document = dict(msg.data)
            write_document(Path(folder), _safe(msg.node_id), document)
        self.received.add(msg.node_id)

    def on_stopping(self, **_: Any) -> None:
        """Ask every worker to stop its users and send its samples (before Locust's quit)."""
        if not workers(self.environment):
            return
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        # Every worker that started recording owes its samples (one that ran no user, an extra
        # worker beyond --expect-workers, has none to send).
        self.expected = set(self.started)
        for client in runner.clients.all:
            runner.send_message(STOP, None, client.id)

    def on_stop(self, **_: Any) -> None:
        """Wait for every worker's samples; a worker's share missing fails the run."""
        if not workers(self.environment):
            return
        timeout = self.environment.stop_timeout or 0.0
        deadline = time.monotonic() + timeout + DELIVERY_MARGIN_S
        while self.expected - self.received and time.monotonic() < deadline:
            gevent.sleep(0.2)
        missing = sorted(self.expected - self.received)
        if missing:
            log.error("orderflow: no samples came from the workers %s", ", ".join(missing))
            self.environment.process_exit_code = MISSING_EXIT_CODE
        if len(self.received) < workers(self.environment):
            log.error(
                "orderflow: %d worker(s) sent samples, %d expected",
                len(self.received),
                workers(self.environment),
            )
            self.environment.process_exit_code = MISSING_EXIT_CODE


def _on_progress(msg: Any, **_: Any) -> None:
    data = msg.data
    line = f"{PROGRESS_PREFIX} pid={_safe(msg.node_id)} elapsed={float(data['elapsed']):.1f} "
    rest = f"rps={float(data['rps']):.1f} samples={int(data['samples'])}"
    print(line + rest, file=sys.stderr, flush=True)


def _on_stop_asked(environment: Environment, **_: Any) -> None:
    assert environment.runner is not None
    environment.runner.stop()


def _safe(node_id: str) -> str:
    """A worker's id (host_uuid) as part of a file name or of a space-separated line."""
    return _UNSAFE.sub("_", str(node_id))[:120]
