"""The open model against a server that stalls: the reported latency includes the stall for every
request that was due during it, which a closed model hides.

A test HTTP server answers at once, except that every request arriving between STALL_AFTER and
STALL_AFTER + STALL_FOR seconds after its first request is held until the stall ends. Locust runs
the real hooks (options, schedule, recorder) with tests/integration/stall_locustfile.py, twice:

- Open model (`--orderflow-rate 50`): the schedule keeps its arrivals during the stall, so about
  rate x stall tasks fall due while the server holds the users' requests. The users send them late,
  once the stall is over, and each one's latency runs from its due time, so each one includes the
  part of the stall it waited through (the coordinated-omission correction wrk2 applies). Timed
  from the actual send instead, those tasks would not even be due in the stall (they start after
  it) and would look fast: the assertions on their count and their latencies would fail.
- Closed model (no rate): each user has one request held by the stall and sends nothing else
  meanwhile, so only a sample or two per user shows the stall: 1 s of nothing sent looks like a
  couple of slow requests among thousands of fast ones.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.stack.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = Path(__file__).with_name("stall_locustfile.py")
LOCUST = Path(sys.executable).parent / "locust"

STALL_AFTER = 1.0  # seconds after the server's first request
STALL_FOR = 1.0
RATE = 50.0  # open model: arrivals per second across the users
USERS = 2
RUN_TIME = "4s"
SLOW_S = 0.3  # a sample this slow saw the stall (the server otherwise answers in a millisecond)
TOLERANCE_S = 0.05  # clock reading and rounding between the two processes


class StallingServer(ThreadingHTTPServer):
    """Answers GET at once, except that a request arriving within the stall window is held until
    the window ends; the window starts STALL_AFTER seconds after the first request."""

    daemon_threads = False  # server_close() joins the connections' threads
    block_on_close = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), StallingHandler)
        self._lock = threading.Lock()
        self.first_request: float | None = None
        self.held = 0  # requests held by the stall

    def stall_window(self) -> tuple[float, float]:
        """The stall's start and end (epoch seconds); only known once a request arrived."""
        if self.first_request is None:
            raise AssertionError("the server got no request")
        start = self.first_request + STALL_AFTER
        return start, start + STALL_FOR

    def hold_for(self, arrived: float) -> float:
        """How long to hold a request that arrived at `arrived` (epoch seconds)."""
        with self._lock:
            if self.first_request is None:
                self.first_request = arrived
            start, end = self.stall_window()
            if not start <= arrived < end:
                return 0.0
            self.held += 1
            return end - arrived

    def handle_error(self, request: Any, client_address: Any) -> None:
        exception = sys.exc_info()[1]
        if not isinstance(exception, ConnectionError):  # Locust drops its connections on exit
            super().handle_error(request, client_address)


class StallingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection (and thread) per Locust user
    # The headers and the body go out in two writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK would hold every answer for ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, StallingServer)
        hold = server.hold_for(time.time())
        if hold > 0:
            time.sleep(hold)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Sample:
    due: float  # epoch seconds: when the task was due (open model) or began (closed model)
    latency_s: float
    error: str | None


@dataclass(frozen=True)
class Run:
    stall_start: float
    stall_end: float
    held: int
    samples: list[Sample]

    def due_in_stall(self) -> list[Sample]:
        return [s for s in self.samples if self.stall_start <= s.due < self.stall_end]

    def slow(self) -> list[Sample]:
        return [s for s in self.samples if s.latency_s > SLOW_S]

    def describe(self) -> str:
        slowest = sorted(self.samples, key=lambda s: s.latency_s)[-5:]
        return (
            f"{len(self.samples)} samples, {self.held} held by the stall, "
            f"{len(self.due_in_stall())} due in it, {len(self.slow())} slower than {SLOW_S} s; "
            "slowest (due - stall start, latency): "
            + ", ".join(f"({s.due - self.stall_start:+.3f}, {s.latency_s:.3f})" for s in slowest)
        )


@contextlib.contextmanager
def stalling_server() -> Iterator[StallingServer]:
    server = StallingServer(free_ports(1, "127.0.0.1")[0])
    thread = threading.Thread(target=server.serve_forever, name="stalling-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_locust(samples: Path, rate: float | None, user: str = "StallProbe") -> Run:
    """One headless Locust run of `user` against a fresh stalling server."""
    with stalling_server() as server:
        command = [
            str(LOCUST),
            "-f",
            str(LOCUSTFILE),
            user,
            "--headless",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            RUN_TIME,
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--host",
            f"http://127.0.0.1:{server.server_address[1]}",
            "--orderflow-samples",
            str(samples),
            "--orderflow-phase",
            "calibration",
        ]
        if rate is not None:
            command += ["--orderflow-rate", str(rate)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-4000:]
        stall_start, stall_end = server.stall_window()
        held = server.held
    files = sorted(samples.glob("samples-*.json"))
    assert len(files) == 1, (files, done.stderr[-4000:])
    document = json.loads(files[0].read_text())
    assert document["style"] == "probe"
    assert document["phase"] == "calibration"
    started_at = float(document["started_at"])
    read = [
        Sample(started_at + float(offset), float(latency_ms) / 1000.0, error)
        for offset, name, latency_ms, error in document["samples"]
        if name == "noop"
    ]
    # On a loaded machine the last tasks may be due while every user is still busy: the
    # recorder counts them as never sent. Only those, and only after the stall, are not noops.
    unsent = [s for s in document["samples"] if s[1] != "noop"]
    assert all(s[1] == "never_sent" for s in unsent), unsent
    assert all(started_at + float(s[0]) >= stall_end for s in unsent), (unsent, stall_end)
    return Run(stall_start, stall_end, held, read)


@pytest.fixture(scope="module", params=["StallProbe", "FastStallProbe"])
def open_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Both the plain user and the FastHttpSession-based one that REST, GraphQL and the broker
    user build on (its own timing starts at the send: the users correct it to the due time)."""
    return run_locust(tmp_path_factory.mktemp("open"), RATE, request.param)


@pytest.fixture(scope="module")
def closed_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_locust(tmp_path_factory.mktemp("closed"), None)


def test_the_open_model_reports_the_stall_for_every_task_due_during_it(open_run: Run) -> None:
    run = open_run
    assert run.held >= 1, run.describe()  # the stall happened while the users were sending
    assert not [s for s in run.samples if s.error], run.describe()
    due = run.due_in_stall()
    # The schedule kept its arrivals while the server stalled: about rate x stall of them.
    assert len(due) >= 0.6 * RATE * STALL_FOR, run.describe()
    # Each one waited, at least, from its due time to the end of the stall.
    late = [s for s in due if s.latency_s < run.stall_end - s.due - TOLERANCE_S]
    assert not late, "due - stall start, latency: " + ", ".join(
        f"({s.due - run.stall_start:+.3f}, {s.latency_s:.3f})" for s in late
    )
    assert max(s.latency_s for s in run.samples) >= 0.9 * STALL_FOR, run.describe()


def test_the_closed_model_hides_the_stall(closed_run: Run) -> None:
    run = closed_run
    assert run.held >= 1, run.describe()  # the stall did hold the users' requests
    assert not [s for s in run.samples if s.error], run.describe()
    # Each user had one request held, and sent nothing else meanwhile.
    assert len(run.slow()) <= USERS + 2, run.describe()


def test_the_open_model_sees_far_more_slow_samples(open_run: Run, closed_run: Run) -> None:
    open_slow, closed_slow = len(open_run.slow()), len(closed_run.slow())
    assert open_slow >= 0.4 * RATE * STALL_FOR, open_run.describe()
    assert open_slow >= 5 * max(closed_slow, 1), (open_run.describe(), closed_run.describe())
