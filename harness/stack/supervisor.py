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
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import httpx

from harness.rabbit.users import service_environment
from harness.stack import postgres, proxy, replicas
from harness.stack.ports import PortClaim, PortInUse, check_ports, free_ports
from harness.stack.process import Child, describe_exit
from harness.stack.replicas import GRPC_BALANCING, PROXY_L7, Layout, Replica, ReplicasNeedPostgres
from services.kernel.config import (
    DEFAULT_PORTS,
    SERVICES,
    Settings,
    bracketed,
    grpc_target_variable,
    host_variable,
    port_variable,
)

__all__ = [
    "START_ORDER",
    "PortInUse",
    "ReplicasNeedPostgres",
    "Stack",
    "StackConfig",
    "StartupFailed",
]

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
PLAN_ATTEMPTS: Final = 3
PROXY: Final = "proxy"  # the HAProxy child's name, in logs/proxy.log


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
    # Processes per service. Above 1 each replica binds ports of its own and HAProxy takes the
    # canonical ones (harness/stack/proxy.py); it needs the PostgreSQL store, which they share.
    replicas: int = 1
    # How order's gRPC calls reach several replicas: replicas.GRPC_BALANCING.
    grpc_balancing: str = PROXY_L7

    def __post_init__(self) -> None:
        unknown = sorted(set(self.services) - set(SERVICES))
        if unknown:
            raise ValueError(f"unknown services {unknown}; choose from {list(SERVICES)}")
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {self.replicas}")
        if self.replicas > 1 and self.postgres_admin_url is None:
            raise ReplicasNeedPostgres
        if self.grpc_balancing not in GRPC_BALANCING:
            raise ValueError(
                f"grpc_balancing must be one of {', '.join(GRPC_BALANCING)},"
                f" got {self.grpc_balancing!r}"
            )
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
        `exclude`: ports promised to something else (free now, but not for long); the ports
        `extra_env` names (`ORDERFLOW_*_PORT`, e.g. the control endpoints') are promised too:
        drawn free a moment ago, they are not bound until a service starts."""
        promised = {int(v) for k, v in (extra_env or {}).items() if _names_a_port(k, v)}
        ports = free_ports(2 * len(SERVICES), host, exclude={*exclude, *promised})
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

    def log_path(self, name: str) -> Path:
        """A service's log, or a replica's (`logs/order-2.log`), or the proxy's."""
        return self.data_dir / "logs" / f"{name}.log"

    @property
    def proxied(self) -> bool:
        return self.replicas > 1

    def proxy_config_path(self) -> Path:
        return self.data_dir / "haproxy.cfg"

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


def _names_a_port(variable: str, value: str) -> bool:
    return variable.startswith("ORDERFLOW_") and variable.endswith("_PORT") and value.isdigit()


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self._children: dict[str, Child] = {}  # by replica name (the service's, with one)
        self._proxy: Child | None = None
        # Where each replica listens: chosen now (replica_urls() answers before start), and
        # afresh by each start(), all its processes being new.
        self._layout = self._plan()

    def start(self, *, reset: bool = False, timeout_s: float = 30.0) -> None:
        """Starts every configured service and returns once each answers GET /ready with 200
        (each replica, and, with several, the proxy reporting every replica up)."""
        if self._running():
            raise RuntimeError("the stack is already started; stop() it first")
        self._layout = self._plan()
        self._claim_ports()
        if reset:
            self._delete_databases()
        self._create_databases()
        self._children.clear()
        deadline = time.monotonic() + timeout_s
        _LIVE.add(self)
        try:
            if self.config.proxied:  # first: the replicas of order reach the others through it
                self._start_proxy(deadline, timeout_s)
            for wave in start_waves(self.config.services):
                started = [r for service in wave for r in self._layout.replicas[service]]
                for replica in started:
                    self._spawn(replica)
                for replica in started:
                    self._wait_ready(replica, deadline, timeout_s)
                if self.config.proxied:
                    self._wait_proxied(wave, deadline, timeout_s)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM in reverse start order, SIGKILL whatever outlives the grace; idempotent."""
        deadline = time.monotonic() + timeout_s
        try:
            started = [s for s in self.config.services if self._started(s)]
            for wave in reversed(start_waves(started)):
                found = [self._children.get(r) for s in wave for r in self.replicas(s)]
                children = [child for child in found if child is not None]
                for child in children:
                    child.terminate()
                wave_deadline = max(deadline, time.monotonic() + MIN_STOP_GRACE_S)
                for child in children:
                    child.wait(wave_deadline)
            if self._proxy is not None:  # last: the services drain through it
                self._proxy.terminate()
                self._proxy.wait(max(deadline, time.monotonic() + MIN_STOP_GRACE_S))
        finally:
            _LIVE.discard(self)

    def restart(
        self, name: str, timeout_s: float = 30.0, extra_env: Mapping[str, str] | None = None
    ) -> None:
        """Starts a service (every replica) or one replica (`order-2`) again, after kill() or
        stopping it first, and waits until ready; `extra_env` adds to its environment for this
        start only (a fault such as a slow start)."""
        chosen = self._resolve(name)
        for replica in chosen:
            previous = self._children.get(replica.name)
            if previous is not None:
                previous.terminate()
                previous.wait(time.monotonic() + timeout_s)
        check_ports(self.config.host, self._replica_claims(chosen))
        _LIVE.add(self)
        children = [self._spawn(replica, extra_env) for replica in chosen]
        try:
            deadline = time.monotonic() + timeout_s
            for replica in chosen:
                self._wait_ready(replica, deadline, timeout_s, watch=children)
            if self.config.proxied:  # back in the proxy's rotation before this returns
                # Only these: another replica may be down on purpose (a fault) meanwhile.
                self._wait_proxied([chosen[0].service], deadline, timeout_s, children)
        except BaseException:
            for child in children:
                child.kill()
            raise

    def url(self, service: str) -> str:
        """Where clients reach the service: the proxy, when it has several replicas."""
        return f"http://{connect_host(self.config.host)}:{self.config.http_port(service)}"

    def replicas(self, service: str) -> list[str]:
        """The names of the service's replicas (`[service]` with one), whose processes
        pid(), kill(), log_path() etc. take."""
        self._require_configured(service)
        return [replica.name for replica in self._layout.replicas[service]]

    def replica_urls(self, service: str) -> list[str]:
        """Each replica's own HTTP base URL, in replicas() order (its /metrics says what it
        served); with one replica, the service's URL."""
        self._require_configured(service)
        host = connect_host(self.config.host)
        return [f"http://{host}:{r.http_port}" for r in self._layout.replicas[service]]

    def replica_map(self) -> dict[str, dict[str, str]]:
        """Every service's replicas' HTTP base URLs by replica name: what the telemetry
        sampler reads each replica at (harness/telemetry/sampler.py, `replicas`)."""
        return {
            service: dict(zip(self.replicas(service), self.replica_urls(service), strict=True))
            for service in self.config.services
        }

    def replica_grpc_addresses(self, service: str) -> list[str]:
        host = connect_host(self.config.host)
        return [f"{host}:{r.grpc_port}" for r in self._layout.replicas[service]]

    def replica_control_ports(self, service: str) -> list[int]:
        """Each replica's fault-control port (it listens when ORDERFLOW_CONTROL_TOKEN is set)."""
        return [
            Settings.from_env(self.replica_environment(name, {})).address(service).control_port
            for name in self.replicas(service)
        ]

    def grpc_l4_address(self, service: str) -> str | None:
        """The proxy's `mode tcp` gRPC frontend of the service (None without a proxy)."""
        port = self._layout.l4_ports.get(service)
        return None if port is None else f"{connect_host(self.config.host)}:{port}"

    def grpc_target(self, service: str) -> str:
        """A gRPC target naming every replica, for a client balancing round robin itself."""
        return "ipv4:" + ",".join(self.replica_grpc_addresses(service))

    def proxy_stats_url(self) -> str | None:
        if not self.config.proxied:
            return None
        return (
            f"http://{connect_host(self.config.host)}:{self._layout.stats_port}{proxy.STATS_PATH}"
        )

    def proxy_configuration(self) -> str:
        """haproxy.cfg for the replicas as planned (start() writes it to the data dir)."""
        return proxy.configuration(
            self._layout, self.config.host, self._http_ports(), self._grpc_ports()
        )

    def log_path(self, name: str) -> Path:
        """The log of a replica, of the proxy, or of a service (its first replica's)."""
        if name == PROXY:
            return self.config.log_path(PROXY)
        return self.config.log_path(self._resolve(name)[0].name)

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        return self._child(name).tail(lines)

    def pid(self, name: str) -> int:
        """The process of a replica (`order-2`), of the proxy, or of a service (its first
        replica's: pids() has them all)."""
        return self._child(name).pid

    def pids(self) -> dict[str, int]:
        """Every replica's process id, by replica name."""
        return {name: child.pid for name, child in self._children.items()}

    def is_running(self, name: str) -> bool:
        children = [self._children.get(r.name) for r in self._resolve(name)]
        return all(child is not None and child.is_running() for child in children)

    def kill(self, name: str) -> None:
        """A crash of a service (every replica) or of one replica: SIGKILL, then reap it so
        its pid is gone when this returns."""
        for child in self._children_of(name):
            child.kill()

    def terminate(self, name: str, timeout_s: float = 30.0) -> None:
        """A graceful stop (SIGTERM, as an orchestrator sends), waited for."""
        children = self._children_of(name)
        for child in children:
            child.terminate()
        for child in children:
            child.wait(time.monotonic() + timeout_s)

    def pause(self, name: str) -> None:
        """A hang: the process keeps its sockets (connections are accepted) but answers nothing."""
        for child in self._children_of(name):
            child.send(signal.SIGSTOP)
            child.paused = True

    def resume(self, name: str) -> None:
        for child in self._children_of(name):
            child.send(signal.SIGCONT)
            child.paused = False

    def unexpected_exits(self) -> dict[str, int]:
        """Replicas (or the proxy) whose process ended without stop() or kill(), with their
        exit codes; a service's name with one replica."""
        everyone = {**self._children, **({PROXY: self._proxy} if self._proxy else {})}
        return {
            name: code
            for name, child in everyone.items()
            if not child.ended_by_us and (code := child.exit_code) is not None
        }

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _http_ports(self) -> dict[str, int]:
        return {s: self.config.http_port(s) for s in self.config.services}

    def _grpc_ports(self) -> dict[str, int]:
        return {s: self.config.grpc_port(s) for s in self.config.services}

    def _plan(self) -> Layout:
        if not self.config.proxied:
            return replicas.single(self.config.services, self._http_ports(), self._grpc_ports())
        canonical = [claim.port for claim in self.config.port_claims()]
        return replicas.spread(
            self.config.services, self.config.replicas, self.config.host, canonical
        )

    def _claim_ports(self) -> None:
        """PortInUse for a taken port of the configuration's (the user's to move); the
        replicas' and the proxy's own, chosen free, are chosen again if one was taken since."""
        check_ports(self.config.host, self.config.port_claims())
        if not self.config.proxied:
            return
        for attempt in range(PLAN_ATTEMPTS):
            try:
                claims = [*self.config.port_claims(), *self._layout.port_claims()]
                check_ports(self.config.host, claims)
                return
            except PortInUse:
                if attempt == PLAN_ATTEMPTS - 1:
                    raise
                self._layout = self._plan()

    def _replica_claims(self, chosen: Sequence[Replica]) -> list[PortClaim]:
        if not self.config.proxied:
            return self.config.port_claims([replica.service for replica in chosen])
        names = {replica.name for replica in chosen}
        return [claim for claim in self._layout.port_claims() if claim.service in names]

    def _running(self) -> bool:
        children = [*self._children.values(), *([self._proxy] if self._proxy else [])]
        return any(child.is_running() for child in children)

    def _started(self, service: str) -> bool:
        return any(r.name in self._children for r in self._layout.replicas.get(service, ()))

    def _start_proxy(self, deadline: float, timeout_s: float) -> None:
        path = self.config.proxy_config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.proxy_configuration())
        argv = proxy.command(path)
        self._proxy = Child.spawn(PROXY, os.environ, self.config.log_path(PROXY), argv)
        stats = self.proxy_stats_url()
        assert stats is not None
        self._poll(PROXY, stats, deadline, timeout_s, [self._proxy])

    def _wait_proxied(
        self,
        wave: Sequence[str],
        deadline: float,
        timeout_s: float,
        restarted: Sequence[Child] | None = None,
    ) -> None:
        """Until the proxy has seen every replica of `wave` healthy (or, after a restart, the
        `restarted` ones): a request through it right after start() may go to any of them."""
        stats = self.proxy_stats_url()
        assert stats is not None and self._proxy is not None
        watched = list(self._children.values()) if restarted is None else list(restarted)
        names = None if restarted is None else {child.service for child in restarted}
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while True:
                _raise_if_exited([self._proxy, *watched])
                states = proxy.server_states(client, stats)
                down = sorted(
                    f"{backend}/{server}"
                    for (backend, server), state in states.items()
                    if backend.split("_")[0] in wave
                    and (names is None or server in names)
                    and state != proxy.UP
                )
                if not down:
                    return
                if time.monotonic() >= deadline:
                    reason = f"did not see {', '.join(down)} up within {timeout_s:g}s"
                    raise StartupFailed(
                        PROXY, reason, self._proxy.log_path, self._proxy.tail(LOG_TAIL_LINES)
                    )
                time.sleep(POLL_S)

    def _spawn(self, replica: Replica, extra_env: Mapping[str, str] | None = None) -> Child:
        env = self.replica_environment(replica.name, os.environ)
        env.update(extra_env or {})
        service = replica.service
        # Each child its own broker user (only its own password), unless the broker URL or
        # ORDERFLOW_BROKER_USER already says who connects.
        env.update(service_environment(env, service))
        # The stack says where each service's store is: one URL inherited by all four would
        # have them share one database (and one outbox). Replicas of a service share its own.
        env.pop("ORDERFLOW_DATABASE_URL", None)
        if self.config.postgres_admin_url is not None:
            name = self.config.database_name(service)
            env["ORDERFLOW_DATABASE_URL"] = postgres.url_of(self.config.postgres_admin_url, name)
        argv = [sys.executable, "-m", f"services.{service}.main"]
        child = Child.spawn(replica.name, env, self.config.log_path(replica.name), argv)
        self._children[replica.name] = child
        return child

    def replica_environment(self, name: str, base: Mapping[str, str]) -> dict[str, str]:
        """What a replica runs with (before its broker identity and database): the stack's
        environment and, with several replicas, its own ports and id, and the way it reaches
        the others' gRPC servers (--grpc-balancing)."""
        chosen = self._resolve(name)
        if len(chosen) != 1:
            raise LookupError(f"{name} has several replicas: name one of {self.replicas(name)}")
        replica = chosen[0]
        env = self.config.environment(base)
        if not self.config.proxied:
            return env
        service = replica.service
        env.update(
            {
                "ORDERFLOW_REPLICA_ID": replica.replica_id,
                port_variable(service, "http"): str(replica.http_port),
                port_variable(service, "grpc"): str(replica.grpc_port),
                port_variable(service, "control"): str(replica.control_port),
            }
        )
        for other in self._layout.l4_ports:
            if other == service:
                continue
            if self.config.grpc_balancing == replicas.PROXY_L4:
                env[port_variable(other, "grpc")] = str(self._layout.l4_ports[other])
            elif self.config.grpc_balancing == replicas.CLIENT:
                env[grpc_target_variable(other)] = self.grpc_target(other)
        return env

    def _wait_ready(
        self,
        replica: Replica,
        deadline: float,
        timeout_s: float,
        watch: list[Child] | None = None,
    ) -> None:
        watched = list(self._children.values()) if watch is None else watch
        host = connect_host(self.config.host)
        ready_url = f"http://{host}:{replica.http_port}/ready"
        self._poll(replica.name, ready_url, deadline, timeout_s, watched)

    def _poll(
        self, name: str, url: str, deadline: float, timeout_s: float, watched: list[Child]
    ) -> None:
        """Until GET `url` answers 200; StartupFailed for `name` if time runs out first."""
        last = "no answer yet"
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while True:
                _raise_if_exited(watched)
                last = _probe(client, url)
                if last == "200":
                    return
                if time.monotonic() >= deadline:
                    path = urlsplit(url).path
                    reason = f"was not ready within {timeout_s:g}s (GET {path}: {last})"
                    raise self._failure(name, reason)
                time.sleep(POLL_S)

    def _failure(self, name: str, reason: str) -> StartupFailed:
        child = self._child(name)
        return StartupFailed(name, reason, child.log_path, child.tail(LOG_TAIL_LINES))

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

    def _resolve(self, name: str) -> list[Replica]:
        """A service's replicas, or the one replica `name` names."""
        if name in self.config.services:
            return list(self._layout.replicas[name])
        for group in self._layout.replicas.values():
            for replica in group:
                if replica.name == name:
                    return [replica]
        raise LookupError(f"{name} is not part of this stack {self.config.services}")

    def _children_of(self, name: str) -> list[Child]:
        return [self._child(replica.name) for replica in self._resolve(name)]

    def _child(self, name: str) -> Child:
        if name == PROXY and self._proxy is not None:
            return self._proxy
        first = self._resolve(name)[0].name
        try:
            return self._children[first]
        except KeyError:
            raise LookupError(f"{name} has not been started") from None

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
