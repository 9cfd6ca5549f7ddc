"""Runs Locust for one style and one phase, as a real subprocess (headless), and watches it:
progress on the terminal, the load generator's CPU, Locust's own warnings.

The Locust processes write raw samples (harness/load/recorder.py), Locust's CSV files and their
per-second history; this module returns where the samples are and what the load generator
cost, for the results."""

from __future__ import annotations

import contextlib
import math
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import psutil

import harness.load
from harness.bench.target import Target
from harness.load.pacing import Surge
from harness.load.recorder import PROGRESS_PREFIX, STARTED_PREFIX

LOCUSTFILE: Final = Path(harness.load.__file__).parent / "locustfile.py"
USER_CLASSES: Final = {
    "rest": "Rest",
    "rest-sse": "RestSse",
    "grpc": "Grpc",
    "graphql": "Graphql",
    "websocket": "Websocket",
    "broker": "Broker",
    "broker-amqp": "BrokerAmqp",
}
STOP_TIMEOUT_S: Final = 35  # let tasks in flight finish (client timeouts are 30 s)
STOP_WAIT_S: Final = 10.0  # for Locust to stop when the bench itself is stopped
SATURATED: Final = 0.9  # of one core, per load-generator process (Python uses one core each)
REMOTE_WARNING: Final = (
    "the users ran on {} Locust workers started outside this bench: the load generator's"
    " figures are the master's alone (the workers' CPU, and whether they saturated, are not"
    " known here)"
)
# How long a phase's master waits for its workers: a worker started by `orderflow locust-worker`
# comes back within seconds after each phase; one not started yet has this long.
WORKERS_WAIT_S: Final = 120.0


class LocustFailed(RuntimeError):
    """Locust itself failed (not the system under load): its log says why."""


@dataclass(frozen=True)
class Workers:
    """A distributed run: Locust's master binds here and waits for `count` workers started
    elsewhere (`orderflow locust-worker --master HOST:PORT`) before each phase."""

    bind_host: str
    bind_port: int
    count: int
    wait_s: float = WORKERS_WAIT_S  # for them, before each phase: then the phase fails

    def options(self) -> list[str]:
        return [
            "--master",
            "--master-bind-host", self.bind_host,
            "--master-bind-port", str(self.bind_port),
            "--expect-workers", str(self.count),
            "--expect-workers-max-wait", f"{self.wait_s:g}",
            "--orderflow-workers", str(self.count),
        ]  # fmt: skip


@dataclass(frozen=True)
class Load:
    users: int
    rate: float | None  # open model: arrivals per second across all users; None: closed
    duration_s: float
    processes: int = 1
    surge: Surge | None = None  # open model only: a window of the run at a multiple of the rate
    workers: Workers | None = None  # None: the Locust processes are this machine's children

    @property
    def model(self) -> str:
        return "closed" if self.rate is None else "open"


@dataclass(frozen=True)
class PhaseRun:
    samples: list[Path]
    load_generator: dict[str, Any]


def open_pool(rate: float, users: int | None) -> int:
    """Users enough to keep the schedule when answers take up to a second (the open model
    still counts any lateness, but a pool too small would make the load generator the cause)."""
    return users if users else max(10, math.ceil(rate))


def run_phase(
    style: str,
    phase: str,
    load: Load,
    target: Target,
    folder: Path,
    on_start: Callable[[float], None] | None = None,
    label: str | None = None,
) -> PhaseRun:
    """Run Locust to the end; `on_start` is called (on another thread) with the epoch at which
    the load started, as soon as the first load-generator process says so. `label` names the
    phase on the progress line (the phase's own name by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = folder / f"samples-{phase}"
    shutil.rmtree(samples, ignore_errors=True)  # an earlier run's files must not be merged in
    command = _command(style, phase, load, target, folder, samples)
    log_path = folder / f"locust-{phase}.log"
    with log_path.open("w") as log:
        watch = _Watch(style, label or phase, load.duration_s, log, on_start)
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        try:
            code = watch.follow(process)
        except BaseException:  # Ctrl-C or a failure here: Locust must not run on without us
            _stop(process)
            raise
    if code != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-15:])
        hint = "" if load.workers is None else _workers_hint(load.workers)
        raise LocustFailed(
            f"locust exited {code} for {style} ({phase}); see {log_path}:\n{tail}{hint}"
        )
    remote = 0 if load.workers is None else load.workers.count
    return PhaseRun(sorted(samples.glob("*.json")), watch.load_generator(load.processes, remote))


def _workers_hint(workers: Workers) -> str:
    where = f"{workers.bind_host}:{workers.bind_port}"
    return (
        f"(the master waited up to {workers.wait_s:g} s for {workers.count} workers at {where};"
        f" each machine's worker: orderflow locust-worker --master <this host>:{workers.bind_port})"
    )


def _command(
    style: str, phase: str, load: Load, target: Target, folder: Path, samples: Path
) -> list[str]:
    user = USER_CLASSES[style] + ("Shopper" if phase == "load" else "Ping")
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), user,
        "--headless", "--only-summary", "--loglevel", "WARNING",
        "-u", str(load.users), "-r", str(load.users), "-t", f"{load.duration_s:g}s",
        "--stop-timeout", str(STOP_TIMEOUT_S), "--exit-code-on-error", "0",
        "--csv", str(folder / phase), "--csv-full-history",
        "--orderflow-samples", str(samples), "--orderflow-phase", phase,
        *target.locust_options(),
    ]  # fmt: skip
    if load.rate is not None:
        command += ["--orderflow-rate", f"{load.rate:g}"]
    if load.surge is not None:
        surge = load.surge
        command += ["--orderflow-surge", f"{surge.at_s:g},{surge.duration_s:g},{surge.factor:g}"]
    if load.processes > 1:
        command += ["--processes", str(load.processes)]
    if load.workers is not None:
        command += load.workers.options()
    return command


@dataclass
class _Watch:
    """Follows one Locust run: its output (to the log; progress lines to the terminal) and
    the CPU its processes use."""

    style: str
    phase: str
    duration_s: float
    log: IO[str]
    on_start: Callable[[float], None] | None = None
    rates: dict[str, float] = field(default_factory=dict)  # latest req/s by process id
    cpu: dict[int, tuple[float, float]] = field(default_factory=dict)  # pid: (cpu s, started)
    warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    ended: float = 0.0
    cpu_s: float = 0.0
    pid: int = 0
    cpu_at_start_s: float | None = None  # the Locust processes' CPU when the load started
    load_started: float = 0.0  # when it did (this clock)

    def follow(self, process: subprocess.Popen[str]) -> int:
        before = _children_cpu_s()
        self.pid = process.pid
        reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        reader.start()
        ticks = 0
        while process.poll() is None:
            self._sample_cpu(process.pid)
            if sys.stdout.isatty():
                print("\r" + self._status(), end="", flush=True)
            elif ticks and ticks % 10 == 0:
                print(self._status(), flush=True)
            ticks += 1
            time.sleep(1.0)
        reader.join(timeout=5)
        self.ended = time.time()
        # Exact, unlike the samples: what Locust and the processes it waited for used in all.
        self.cpu_s = _children_cpu_s() - before
        print(("\r" if sys.stdout.isatty() else "") + self._status(final=True), flush=True)
        return int(process.returncode)

    def load_generator(self, processes: int, remote_workers: int = 0) -> dict[str, Any]:
        """What the Locust processes this bench started used; `remote_workers` ran the users
        elsewhere (--expect-workers), and no figure here can include their CPU."""
        wall = max(self.ended - self.started, 1e-6)
        cpu_s = self.cpu_s
        busiest = max(
            (used / max(self.ended - born, 1e-6) for used, born in self.cpu.values()), default=0.0
        )
        saturated = busiest >= SATURATED
        warnings = list(dict.fromkeys(self.warnings))
        if saturated:
            warnings.append(
                f"a load-generator process used {busiest:.0%} of a core: the figures may show"
                " the load generator's limit; try --processes 2 or fewer users"
            )
        if remote_workers:
            warnings.append(REMOTE_WARNING.format(remote_workers))
        measured = None if self.cpu_at_start_s is None else max(cpu_s - self.cpu_at_start_s, 0.0)
        measured_wall = max(self.ended - self.load_started, 1e-6)
        found = {
            "cpu_s": round(cpu_s, 2),
            "cpu_cores": round(cpu_s / wall, 2),
            # From the load's start to Locust's exit: what generating the measured load cost,
            # without Locust's start-up (unrounded: it is divided per order).
            "measured_cpu_s": measured,
            "busiest_core": round(busiest, 2),
            # Per process, while the load ran: the figure that says whether Locust was the limit
            # (busiest_core spans each process's life, start-up included).
            "core_per_process": None
            if measured is None
            else round(measured / measured_wall / processes, 2),
            "processes": processes,
            "saturated": saturated,
            "warnings": warnings,
        }
        if remote_workers:
            found["remote_workers"] = remote_workers
        return found

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(STARTED_PREFIX):
                self._started(line)
                continue
            if line.startswith(PROGRESS_PREFIX):
                fields = dict(part.split("=", 1) for part in line.split()[1:])
                self.rates[fields["pid"]] = float(fields["rps"])
                continue
            self.log.write(line)
            if "CPU usage" in line:  # Locust's own warning that it is the bottleneck
                self.warnings.append(line.strip().split(": ", 1)[-1])

    def _started(self, line: str) -> None:
        on_start, self.on_start = self.on_start, None  # the first process to start is the start
        if self.cpu_at_start_s is None:
            self.cpu_at_start_s = _family_cpu_s(self.pid)
            self.load_started = time.time()
        if on_start is None:
            return
        try:
            on_start(float(line.split("at=", 1)[1]))
        except Exception as error:  # this thread must go on reading Locust's output
            self.log.write(f"orderflow: what starts with the load failed: {error!r}\n")
            self.warnings.append(f"what starts with the load failed: {error!r}")

    def _sample_cpu(self, pid: int) -> None:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for member in family:
            try:
                times = member.cpu_times()
                self.cpu[member.pid] = (times.user + times.system, member.create_time())
            except psutil.Error:
                continue  # it ended between listing and reading: its last reading stands

    def _status(self, final: bool = False) -> str:
        where = f"  {self.style:<9} {self.phase:<11}"
        if final:
            return f"{where} done in {time.time() - self.started:.0f} s" + " " * 20
        if not self.load_started:  # Locust starting, or a master waiting for its workers
            return f"{where} waiting for the load to start" + " " * 10
        elapsed = min(time.time() - self.load_started, self.duration_s)
        rate = sum(self.rates.values())
        return f"{where} {elapsed:5.0f}/{self.duration_s:g} s  {rate:8.1f} req/s"


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _family_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by a process and all its descendants (None if it is gone)."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for member in family:
        with contextlib.suppress(psutil.Error):  # ended meanwhile: rusage counts it at the end
            times = member.cpu_times()
            total += times.user + times.system
    return total


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
