"""A private RabbitMQ node the harness starts, stops and kills (docs/architecture.md §2).

A broker-outage fault has to stop a broker, and stopping the machine's own RabbitMQ would hurt
whoever else uses it. So the harness runs a node of its own: own node name, AMQP and distribution
ports, Erlang cookie, configuration and data directory. Every signal goes to the process this
object spawned; nothing here names another node.

It runs the release's own `rabbitmq-server` script as the current user. (Debian's wrapper in
/usr/sbin switches to the `rabbitmq` user, which cannot enter a private directory such as pytest's
tmp_path.) Everything the node reads or writes is under `data_dir`:

    node                   the node name: kept, so durable data outlives this object
    home/.erlang.cookie    a cookie of its own, shared only with our `rabbitmqctl` calls
    rabbitmq.conf ...      configuration rewritten at every start; /etc/rabbitmq is never read
    definitions.json       the project's users and permissions (harness/rabbit/definitions.json,
                           granted for every namespace of `grant`), loaded at every start
    mnesia/                queues, bindings and persistent messages
    logs/broker.log        the node's log, appended run after run

No guest user: a client connects as one of the project's identities (harness/rabbit/users.py).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

import pika
import pika.exceptions

from harness.rabbit import users as rabbit_users
from harness.rabbit.installation import (
    HOST,
    BrokerError,
    BrokerPortInUse,
    Installation,
    available,
    link_plugins,
)
from harness.stack.ports import free_ports, is_free

__all__ = ["BrokerError", "BrokerPortInUse", "Installation", "PrivateBroker", "available"]

# Below the kernel's ephemeral range (32768 and up), from which any outgoing connection may take a
# port between our check and the node's bind. rabbitmqctl is told to listen on one of the node's
# distribution port + CTL_PORT_OFFSET (+ up to 10): that stays below the range too.
PORT_RANGE: Final = range(10_000, 22_750)
CTL_PORT_OFFSET: Final = 10_000
POLL_S: Final = 0.05
LOG_TAIL_LINES: Final = 20
KILL_WAIT_S: Final = 10.0


class PrivateBroker:
    """One RabbitMQ node of our own on 127.0.0.1; durable data persists in `data_dir`.

    The AMQP port is fixed for the object's life (clients reconnect to the same URL after an
    outage); the distribution port is picked afresh at every start. Not thread-safe.
    """

    def __init__(
        self, data_dir: Path, *, amqp_port: int | None = None, node: str | None = None
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.node = node or _stored_node(self.data_dir) or f"orderflow-{secrets.token_hex(4)}"
        if "@" not in self.node:
            self.node = f"{self.node}@localhost"
        self._amqp_port = amqp_port if amqp_port is not None else free_low_ports(1)[0]
        self._process: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] | None = None
        self._log_offset = 0
        self._namespaces = {rabbit_users.NAMESPACE}

    @property
    def amqp_port(self) -> int:
        return self._amqp_port

    @property
    def url(self) -> str:
        """The node's URL without a user: each process connects as its own identity."""
        return f"amqp://{HOST}:{self._amqp_port}/%2F"

    @property
    def amqp_url(self) -> str:
        """The node's URL as `admin`, the operator, who may do anything (tools, fault tests)."""
        return rabbit_users.as_user(self.url, rabbit_users.ADMIN)

    def grant(self, namespace: str) -> None:
        """Give the project's users the resources of `namespace` too (the definitions grant
        `orderflow`): its topic permissions, and its names in their permissions."""
        self._namespaces.add(namespace)
        self._write_definitions()
        if self.is_running():
            self.rabbitmqctl("import_definitions", str(self._definitions_path))

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "broker.log"

    @property
    def pid(self) -> int:
        """The node's Erlang VM (our child itself: the script execs it)."""
        if self._process is None or not self.is_running():
            raise LookupError(f"the private broker {self.node} is not running")
        return self._process.pid

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 60.0) -> None:
        """Starts the node and returns once a client can connect; does nothing if it runs.

        On failure nothing of it is left running and BrokerError says why, with the log tail.
        """
        if self.is_running():
            return
        installation = Installation.require()
        self._refuse_leftover_node()
        if not is_free(HOST, self._amqp_port):
            raise BrokerPortInUse(self._amqp_port)
        self._env = self._prepare(installation, dist_port=free_low_ports(1, {self._amqp_port})[0])
        self._spawn(installation)
        _LIVE.add(self)
        try:
            self._wait_ready(time.monotonic() + timeout_s, timeout_s)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout_s: float = 30.0) -> None:
        """A graceful stop (SIGTERM, as `rabbitmqctl stop`); SIGKILL after the grace; idempotent."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._forget()

    def kill(self) -> None:
        """A crash: SIGKILL the node and its helper processes; returns once the VM is gone."""
        process = self._process
        if process is not None:
            if process.poll() is None:
                # The node runs in a session of its own: its group holds only its processes.
                _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=KILL_WAIT_S)
        self._forget()

    def rabbitmqctl(self, *args: str, timeout_s: float = 30.0) -> str:
        """Runs `rabbitmqctl -n <this node> ARGS` with this node's cookie; returns its output."""
        if self._env is None:
            raise BrokerError(f"the private broker {self.node} has not been started")
        command = [str(Installation.require().ctl), "-n", self.node, *args]
        done = subprocess.run(
            command, env=self._env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise BrokerError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The end of this run's log (the file keeps earlier runs too)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _prepare(self, installation: Installation, *, dist_port: int) -> dict[str, str]:
        for directory in (self.data_dir / "home", self.data_dir / "mnesia", self.log_path.parent):
            directory.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "node").write_text(f"{self.node}\n")
        _write_cookie(self.data_dir / "home" / ".erlang.cookie")
        files = _node_files(self.data_dir)
        self._write_definitions()
        files["config"].write_text(
            "# Written by orderflow at every start of the private broker.\n"
            f"listeners.tcp.1 = {HOST}:{self._amqp_port}\n"
            f"load_definitions = {self._definitions_path}\n"
        )
        files["env"].write_text("# Empty: keeps /etc/rabbitmq/rabbitmq-env.conf out.\n")
        files["plugins"].write_text("[].\n")
        plugins = link_plugins(installation.plugins, self.data_dir / "plugins")
        return self._environment(os.environ, files, plugins, dist_port)

    @property
    def _definitions_path(self) -> Path:
        return self.data_dir / "definitions.json"

    def _write_definitions(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        rendered = rabbit_users.definitions(self._namespaces)
        self._definitions_path.write_text(json.dumps(rendered, indent=2) + "\n")

    def _environment(
        self, base: Mapping[str, str], files: dict[str, Path], plugins: Path, dist_port: int
    ) -> dict[str, str]:
        # Inherited RABBITMQ_* variables (RABBITMQ_NODE_PORT, ...) would reconfigure the node.
        env = {key: value for key, value in base.items() if not key.startswith("RABBITMQ_")}
        env.update(
            HOME=str(self.data_dir / "home"),  # where the node and rabbitmqctl read the cookie
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_DIST_PORT=str(dist_port),
            RABBITMQ_CONFIG_FILE=str(files["config"]),
            RABBITMQ_CONF_ENV_FILE=str(files["env"]),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.data_dir / "advanced.config"),  # none
            RABBITMQ_ENABLED_PLUGINS_FILE=str(files["plugins"]),
            RABBITMQ_PLUGINS_DIR=str(plugins),
            RABBITMQ_MNESIA_BASE=str(self.data_dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.log_path.parent),
            RABBITMQ_LOGS="-",  # to stdout, which is broker.log: one file with boot failures too
            RABBITMQ_PID_FILE=str(self.data_dir / "node.pid"),
            ERL_CRASH_DUMP=str(self.log_path.parent / "erl_crash.dump"),  # a failed boot writes one
            # rabbitmqctl's own listener; its default, 35672, is in the ephemeral range.
            RABBITMQ_CTL_DIST_PORT_MIN=str(dist_port + CTL_PORT_OFFSET),
            RABBITMQ_CTL_DIST_PORT_MAX=str(dist_port + CTL_PORT_OFFSET + 10),
            ERL_EPMD_ADDRESS=HOST,
            # +B i: the VM ignores SIGINT (a stray Ctrl-C would otherwise halt it abruptly).
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+B i -kernel inet_dist_use_interface {127,0,0,1}",
            # Makes the script exec the VM rather than wait on it behind signal traps, so our
            # child is the node: SIGTERM stops it gracefully and wait() reaps the VM itself.
            detached="true",
        )
        return env

    def _spawn(self, installation: Installation) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"--- {stamp} orderflow: starting {self.node} on {self.url}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            self._process = subprocess.Popen(
                [str(installation.server)],
                env=self._env,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C goes to us; we stop it in order
            )

    def _wait_ready(self, deadline: float, timeout_s: float) -> None:
        while True:
            if not self.is_running():
                raise self._failure("stopped during start-up")
            if _accepts(self._amqp_port) and _answers_amqp(self._amqp_port):
                return
            if time.monotonic() >= deadline:
                raise self._failure(f"was not ready within {timeout_s:g}s")
            time.sleep(POLL_S)

    def _failure(self, reason: str) -> BrokerError:
        tail = self.log_tail() or "(the log is empty)"
        return BrokerError(
            f"private broker {self.node} (AMQP port {self._amqp_port}) {reason}; "
            f"last lines of {self.log_path}:\n{tail}"
        )

    def _refuse_leftover_node(self) -> None:
        """A node of this data_dir still running (say its parent was SIGKILLed) is not ours to
        stop: it may serve someone else. Starting a second one would fail less clearly."""
        pid = _read_pid(self.data_dir / "node.pid")
        if pid is not None and _runs_node(pid, self.node):
            raise BrokerError(
                f"RabbitMQ node {self.node} of {self.data_dir} is already running as pid {pid}, "
                "not started by this PrivateBroker; stop it first (kill it, or "
                f"`rabbitmqctl -n {self.node} stop` with HOME={self.data_dir / 'home'})"
            )

    def _forget(self) -> None:
        self._process = None
        _LIVE.discard(self)


def free_low_ports(count: int, exclude: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 now, drawn from PORT_RANGE."""
    return free_ports(count, HOST, PORT_RANGE, exclude)


def _node_files(data_dir: Path) -> dict[str, Path]:
    return {
        "config": data_dir / "rabbitmq.conf",
        "env": data_dir / "rabbitmq-env.conf",
        "plugins": data_dir / "enabled_plugins",
    }


def _stored_node(data_dir: Path) -> str | None:
    try:
        return (data_dir / "node").read_text().strip() or None
    except OSError:
        return None


def _write_cookie(path: Path) -> None:
    if path.exists():
        return
    # Erlang refuses a cookie file that others can read; create it private from the start.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(descriptor, "w") as cookie:
        cookie.write(secrets.token_hex(16).upper())


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _runs_node(pid: int, node: str) -> bool:
    """Whether `pid` is alive and is the VM of `node` (its environment names the node)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"RABBITMQ_NODENAME={node}".encode() in environ.split(b"\0")


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # every process of it has exited already
        os.killpg(pgid, signum)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _answers_amqp(port: int) -> bool:
    admin = rabbit_users.identity(rabbit_users.ADMIN)
    parameters = pika.ConnectionParameters(
        host=HOST,
        port=port,
        credentials=pika.PlainCredentials(admin.user, admin.password),
        connection_attempts=1,
        socket_timeout=2.0,
    )
    try:
        pika.BlockingConnection(parameters).close()
    except (pika.exceptions.AMQPError, OSError):
        return False
    return True


# Nodes started and not yet stopped, stopped at interpreter exit should a caller forget to.
_LIVE: set[PrivateBroker] = set()


@atexit.register
def _stop_live_brokers() -> None:
    for broker in list(_LIVE):
        broker.stop()
