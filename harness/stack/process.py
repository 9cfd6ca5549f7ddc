"""One child process of the stack, with its output appended to its own log file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Child:
    service: str  # what it is called in messages: a service, a replica (`order-2`), `proxy`
    process: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int  # where this run's output starts: the log keeps earlier runs too
    paused: bool = False
    ended_by_us: bool = False  # stopped or killed by the supervisor, so its exit is no crash

    @classmethod
    def spawn(
        cls,
        service: str,
        env: Mapping[str, str],
        log_path: Path,
        argv: Sequence[str] | None = None,
    ) -> Child:
        """Runs `argv`, by default the service's own module (`services.<service>.main`)."""
        command = [sys.executable, "-m", f"services.{service}.main"] if argv is None else argv
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"--- {stamp} orderflow supervisor: starting {service}\n".encode())
            log.flush()
            offset = log.tell()
            process = subprocess.Popen(
                list(command),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return cls(service, process, log_path, offset)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()

    def is_running(self) -> bool:
        return self.process.poll() is None

    def send(self, signum: signal.Signals) -> None:
        if self.is_running():
            self.process.send_signal(signum)

    def terminate(self) -> None:
        self.ended_by_us = True
        self.send(signal.SIGTERM)
        if self.paused:
            # A stopped process acts on SIGTERM only once it runs again.
            self.send(signal.SIGCONT)
            self.paused = False

    def wait(self, deadline: float) -> None:
        """Waits until the deadline for it to exit, then SIGKILLs it; always reaps it."""
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        self.ended_by_us = True
        self.send(signal.SIGKILL)
        self.process.wait()
        self.paused = False

    def tail(self, lines: int = 20) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def describe_exit(code: int) -> str:
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"
