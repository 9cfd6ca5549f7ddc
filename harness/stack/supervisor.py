"""Runs the services as child processes: start in dependency order, wait until ready, stop cleanly.

The CLI's `up` and the end-to-end tests share this. Faults are driven through it too: a child can
be killed (a crash), paused (a hang) and restarted. Children share the caller's process group, so
Ctrl-C in a terminal reaches them as well; the supervisor still stops them in order and reaps them.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import signal
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from harness.rabbit.users import service_environment
from harness.stack import postgres
from harness.stack.ports import PortClaim, PortInUse, check_ports, free_ports
from harness.stack.process import Child, describe_exit
from services.kernel.config import DEFAULT_PORTS, SERVICES, bracketed, host_variable, port_variable

__all__ = ["START_ORDER", "PortInUse", "Stack", "StackConfig", "StartupFailed"]

# Who must be ready before a service starts. Notification is not needed for the order service's
# readiness, but starting it first means no order placed right after start-up misses its message.
DEPENDENCIES: Final[Mapping[str, tuple[str, ...]]] = {
    "order": ("inventory", "payment", "notification"),
}
START_ORDER: Final = tuple(s for s in SERVICES if s not in DEPENDENCIES) + tuple(
    s for s in SERVICES if s in DEPENDENCIES
)
POLL_S: Final = 0.05
LOG_TAIL_LINES: Final = 20
MIN_STOP_GRACE_S: Final = 1.0


class StartupFailed(RuntimeError):
    """A service exited or did not become ready in time; the message ends with its log's tail."""

    def __init__(self, service: str, reason: str, log_path: Path, log_tail: str) -> None:
        self.service = service
        self.log_path = log_path
        self.log_tail = log_tail
        tail = log_tail or "(the log is empty)"
        super().__init__(f"{service} {reason}; last lines of {log_path}:\n{tail}")


def _default_ports(index: int) -> dict[str, int]:
    return {service: ports[index] for service, ports in DEFAULT_PORTS.items()}


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    http_ports: Mapping[str, int] = field(default_factory=lambda: _default_ports(0))
    grpc_ports: Mapping[str, int] = field(default_factory=lambda: _default_ports(1))
    services: tuple[str, ...] = START_ORDER
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # The PostgreSQL server where each service gets a database of its own (`--store postgres`);
    # None: each service's SQLite file in data_dir.
    postgres_admin_url: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.services) - set(SERVICES))
        if unknown:
            raise ValueError(f"unknown services {unknown}; choose from {list(SERVICES)}")
        # Children and log paths must not depend on the working directory of whoever reads them.
        object.__setattr__(self, "data_dir", Path(self.data_dir).absolute())

    @classmethod
    def on_free_ports(
        cls,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        services: tuple[str, ...] = START_ORDER,
        extra_env: Mapping[str, str] | None = None,
        exclude: Collection[int] = (),
    ) -> StackConfig:
        """Every port of every service (started or not) a free one: for tests side by side.
        `exclude`: ports promised to something else (free now, but not for long)."""
        ports = free_ports(2 * len(SERVICES), host, exclude=exclude)
        return cls(
            data_dir=data_dir,
            host=host,
            http_ports=dict(zip(SERVICES, ports[: len(SERVICES)], strict=True)),
            grpc_ports=dict(zip(SERVICES, ports[len(SERVICES) :], strict=True)),
            services=services,
            extra_env=dict(extra_env or {}),
        )

    def http_port(self, service: str) -> int:
        return self.http_ports.get(service, DEFAULT_PORTS[service][0])

    def grpc_port(self, service: str) -> int:
        return self.grpc_ports.get(service, DEFAULT_PORTS[service][1])

    def log_path(self, service: str) -> Path:
        return self.data_dir / "logs" / f"{service}.log"

    def database_name(self, service: str) -> str:
        """The service's PostgreSQL database: named after the data directory too, so stacks
        with directories of their own (tests, demo) never share one."""
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:8]
        return f"{postgres.PREFIX}{digest}_{service}"

    def database_files(self, service: str) -> tuple[Path, ...]:
        database = self.data_dir / f"{service}.db"
        return (database, Path(f"{database}-wal"), Path(f"{database}-shm"))

    def port_claims(self, services: Sequence[str] | None = None) -> list[PortClaim]:
        chosen = self.services if services is None else services
        return [
            claim
            for service in chosen
            for claim in (
                PortClaim(service, "http", self.http_port(service)),
                PortClaim(service, "grpc", self.grpc_port(service)),
            )
        ]

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """What a child runs with: `base` plus the whole stack's addresses, then `extra_env`."""
        env = dict(base)
        env["ORDERFLOW_HOST"] = self.host
        env["ORDERFLOW_DATA_DIR"] = str(self.data_dir)
        for service in SERVICES:  # every child gets every address: order calls the others
            # Every service is here, on one host: a per-service host inherited from the caller's
            # environment (a container's, say) would send the calls elsewhere.
            env[host_variable(service)] = reach_host(self.host)
            env[port_variable(service, "http")] = str(self.http_port(service))
            env[port_variable(service, "grpc")] = str(self.grpc_port(service))
        env["PYTHONUNBUFFERED"] = "1"  # log lines reach the file (and a StartupFailed) at once
        env.update(self.extra_env)
        return env


def start_waves(services: Sequence[str]) -> list[tuple[str, ...]]:
    """Groups services so that each group's dependencies within `services` come earlier."""
    waves: list[tuple[str, ...]] = []
    pending = list(services)
    while pending:
        wave = tuple(s for s in pending if not set(DEPENDENCIES.get(s, ())) & set(pending))
        wave = wave or tuple(pending)  # a cycle: start the rest together rather than never
        waves.append(wave)
        pending = [s for s in pending if s not in wave]
    return waves


def reach_host(host: str) -> str:
    """The host to reach a server bound to `host` at (a wildcard is reached on loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def connect_host(host: str) -> str:
    """`reach_host`, ready to stand before `:port` in a URL."""
    return bracketed(reach_host(host))


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self._children: dict[str, Child] = {}

    def start(self, *, reset: bool = False, timeout_s: float = 30.0) -> None:
        """Starts every configured service and returns once each answers GET /ready with 200."""
        if any(child.is_running() for child in self._children.values()):
            raise RuntimeError("the stack is already started; stop() it first")
        check_ports(self.config.host, self.config.port_claims())
        if reset:
            self._delete_databases()
        self._create_databases()
        self._children.clear()
        deadline = time.monotonic() + timeout_s
        _LIVE.add(self)
        try:
            for wave in start_waves(self.config.services):
                for service in wave:
                    self._spawn(service)
                for service in wave:
                    self._wait_ready(service, deadline, timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM in reverse start order, SIGKILL whatever outlives the grace; idempotent."""
        deadline = time.monotonic() + timeout_s
        try:
            for wave in reversed(start_waves(list(self._children))):
                children = [self._children[service] for service in wave]
                for child in children:
                    child.terminate()
                wave_deadline = max(deadline, time.monotonic() + MIN_STOP_GRACE_S)
                for child in children:
                    child.wait(wave_deadline)
        finally:
            _LIVE.discard(self)

    def restart(
        self, service: str, timeout_s: float = 30.0, extra_env: Mapping[str, str] | None = None
    ) -> None:
        """Starts one service again (after kill(), or stopping it first) and waits until ready;
        `extra_env` adds to its environment for this start only (a fault such as a slow start)."""
        self._require_configured(service)
        previous = self._children.get(service)
        if previous is not None:
            previous.terminate()
            previous.wait(time.monotonic() + timeout_s)
        check_ports(self.config.host, self.config.port_claims([service]))
        _LIVE.add(self)
        child = self._spawn(service, extra_env)
        try:
            self._wait_ready(service, time.monotonic() + timeout_s, timeout_s, watch=[child])
        except BaseException:
            child.kill()
            raise

    def url(self, service: str) -> str:
        return f"http://{connect_host(self.config.host)}:{self.config.http_port(service)}"

    def log_path(self, service: str) -> Path:
        return self.config.log_path(service)

    def log_tail(self, service: str, lines: int = LOG_TAIL_LINES) -> str:
        return self._child(service).tail(lines)

    def pid(self, service: str) -> int:
        return self._child(service).pid

    def is_running(self, service: str) -> bool:
        child = self._children.get(service)
        return child is not None and child.is_running()

    def kill(self, service: str) -> None:
        """A crash: SIGKILL, then reap it so its pid is gone when this returns."""
        self._child(service).kill()

    def terminate(self, service: str, timeout_s: float = 30.0) -> None:
        """A graceful stop of one service (SIGTERM, as an orchestrator sends), waited for."""
        child = self._child(service)
        child.terminate()
        child.wait(time.monotonic() + timeout_s)

    def pause(self, service: str) -> None:
        """A hang: the process keeps its sockets (connections are accepted) but answers nothing."""
        child = self._child(service)
        child.send(signal.SIGSTOP)
        child.paused = True

    def resume(self, service: str) -> None:
        child = self._child(service)
        child.send(signal.SIGCONT)
        child.paused = False

    def unexpected_exits(self) -> dict[str, int]:
        """Services whose process ended without stop() or kill(), with their exit codes."""
        return {
            service: code
            for service, child in self._children.items()
            if not child.ended_by_us and (code := child.exit_code) is not None
        }

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _spawn(self, service: str, extra_env: Mapping[str, str] | None = None) -> Child:
        env = {**self.config.environment(os.environ), **(extra_env or {})}
        # Each child its own broker user (only its own password), unless the broker URL or
        # ORDERFLOW_BROKER_USER already says who connects.
        env.update(service_environment(env, service))
        # The stack says where each service's store is: one URL inherited by all four would
        # have them share one database (and one outbox).
        env.pop("ORDERFLOW_DATABASE_URL", None)
        if self.config.postgres_admin_url is not None:
            name = self.config.database_name(service)
            env["ORDERFLOW_DATABASE_URL"] = postgres.url_of(self.config.postgres_admin_url, name)
        child = Child.spawn(service, env, self.config.log_path(service))
        self._children[service] = child
        return child

    def _wait_ready(
        self, service: str, deadline: float, timeout_s: float, watch: list[Child] | None = None
    ) -> None:
        watched = list(self._children.values()) if watch is None else watch
        ready_url = f"{self.url(service)}/ready"
        last = "no answer yet"
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while True:
                _raise_if_exited(watched)
                last = _probe(client, ready_url)
                if last == "200":
                    return
                if time.monotonic() >= deadline:
                    reason = f"was not ready within {timeout_s:g}s (GET /ready: {last})"
                    raise self._failure(service, reason)
                time.sleep(POLL_S)

    def _failure(self, service: str, reason: str) -> StartupFailed:
        child = self._children[service]
        return StartupFailed(service, reason, child.log_path, child.tail(LOG_TAIL_LINES))

    def _delete_databases(self) -> None:
        if self.config.postgres_admin_url is not None:
            self.drop_databases()
            return
        for service in self.config.services:
            for path in self.config.database_files(service):
                path.unlink(missing_ok=True)

    def _create_databases(self) -> None:
        admin_url = self.config.postgres_admin_url
        if admin_url is not None:
            for service in self.config.services:
                postgres.create_if_missing(admin_url, self.config.database_name(service))

    def drop_databases(self) -> None:
        """Drop the services' PostgreSQL databases (the stack stopped): only ones it named."""
        admin_url = self.config.postgres_admin_url
        if admin_url is not None:
            for service in self.config.services:
                postgres.drop(admin_url, self.config.database_name(service))

    def _child(self, service: str) -> Child:
        self._require_configured(service)
        try:
            return self._children[service]
        except KeyError:
            raise LookupError(f"{service} has not been started") from None

    def _require_configured(self, service: str) -> None:
        if service not in self.config.services:
            raise LookupError(f"{service} is not part of this stack {self.config.services}")


def _raise_if_exited(children: list[Child]) -> None:
    for child in children:
        code = child.exit_code
        if code is not None:
            reason = f"{describe_exit(code)} during start-up"
            raise StartupFailed(child.service, reason, child.log_path, child.tail(LOG_TAIL_LINES))


def _probe(client: httpx.Client, url: str) -> str:
    try:
        response = client.get(url)
    except httpx.HTTPError as error:
        return type(error).__name__
    return str(response.status_code)


# Stacks with live children, stopped at interpreter exit should a caller forget to.
_LIVE: set[Stack] = set()


@atexit.register
def _stop_live_stacks() -> None:
    for stack in list(_LIVE):
        stack.stop()
