"""A single-node Docker Swarm for the Swarm test, and compose.yaml deployed on it as a stack.

The swarm is made here (`docker swarm init` on the loopback address: nothing outside the host
can join it) and left afterwards (`docker swarm leave --force`), with the networks Swarm made
(`ingress`, `docker_gwbridge`) and the stack's volumes removed: the host is as it was found.
An engine already in a swarm is someone else's: the test refuses it rather than deploy there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.compose.engine import run
from tests.e2e.compose.stack import COMPOSE_FILE, ROOT

STACK = "orderflow-e2e"  # not `orderflow`: a stack of that name stays untouched
ADDRESS = "127.0.0.1"
READY_TIMEOUT_S = 600.0
GONE_TIMEOUT_S = 120.0


def node_state() -> str:
    return run("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


def networks() -> set[str]:
    return set(run("docker", "network", "ls", "--format", "{{.Name}}").stdout.split())


@contextmanager
def single_node_swarm() -> Iterator[None]:
    if node_state() != "inactive":
        raise AssertionError(
            f"the engine is already in a swarm ({node_state()}): this test makes its own and"
            " leaves it after, so it does not deploy on someone else's"
        )
    before = networks()
    run("docker", "swarm", "init", "--advertise-addr", ADDRESS, "--listen-addr",
        f"{ADDRESS}:2377")  # fmt: skip
    try:
        yield
    finally:
        run("docker", "swarm", "leave", "--force", timeout=120, check=False)
        for network in networks() - before:  # docker_gwbridge outlives the swarm
            run("docker", "network", "rm", network, check=False)


def write_stack_file(path: Path) -> Path:
    """compose.yaml as it is but for its published ports (the machine's own RabbitMQ holds
    5672, and Swarm's routing mesh would take every published port of the host), with the
    configs' files made absolute since the copy lives elsewhere."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    for spec in document["services"].values():
        spec.pop("ports", None)
    for config in document.get("configs", {}).values():
        config["file"] = str((ROOT / config["file"]).resolve())
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass(frozen=True)
class Stack:
    name: str = STACK

    def deploy(self, file: Path) -> None:
        # The images are local (built, not pulled): no registry to ask for their digests.
        run("docker", "stack", "deploy", "--resolve-image", "never", "--compose-file", str(file),
            self.name, timeout=300)  # fmt: skip

    def services(self) -> list[dict[str, Any]]:
        out = run("docker", "stack", "services", self.name, "--format", "{{json .}}").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def containers(self, service: str | None = None) -> list[str]:
        """The stack's running containers (of one service): `<id> <status>` lines' ids."""
        label = f"com.docker.stack.namespace={self.name}"
        flags = ["--filter", f"label={label}"]
        if service is not None:
            flags += ["--filter", f"label=com.docker.swarm.service.name={self.name}_{service}"]
        out = run("docker", "ps", *flags, "--format", "{{.ID}}").stdout
        return out.split()

    def wait_until_ready(self, expected: dict[str, int]) -> None:
        """Every service has its replicas running, and every container with a health check
        is healthy (the services' /ready, PostgreSQL, RabbitMQ, the proxy, Locust's UI)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            running = {
                s["Name"].removeprefix(f"{self.name}_"): s["Replicas"] for s in self.services()
            }
            wanted = {name: f"{count}/{count}" for name, count in expected.items()}
            statuses = self._statuses()
            if running == wanted and statuses and not [s for s in statuses if _unhealthy(s)]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"stack {self.name} not ready in {READY_TIMEOUT_S:.0f} s: replicas"
                    f" {running}, expected {wanted}; containers {statuses}\n{self.tasks()}"
                )
            time.sleep(3)

    def _statuses(self) -> list[str]:
        label = f"label=com.docker.stack.namespace={self.name}"
        out = run("docker", "ps", "--filter", label, "--format", "{{.Names}} {{.Status}}").stdout
        return out.splitlines()

    def tasks(self) -> str:
        return run("docker", "stack", "ps", self.name, "--no-trunc", "--format",
                   "{{.Name}} {{.CurrentState}} {{.Error}}", check=False).stdout  # fmt: skip

    def exec(self, service: str, *argv: str, timeout: float = 600) -> str:
        """A command in one running container of a service (the single node has them all)."""
        container = self.containers(service)[0]
        return run("docker", "exec", container, *argv, timeout=timeout).stdout

    def logs(self, service: str) -> str:
        done = run("docker", "service", "logs", "--raw", f"{self.name}_{service}", check=False)
        return done.stdout + done.stderr

    def remove(self) -> None:
        """`docker stack rm`, then wait until its containers and network are gone (the
        removal is asynchronous) and remove its volumes."""
        run("docker", "stack", "rm", self.name, check=False)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while self.containers() or f"{self.name}_default" in networks():
            if time.monotonic() > deadline:
                raise AssertionError(f"stack {self.name} still there after {GONE_TIMEOUT_S} s")
            time.sleep(2)
        label = f"label=com.docker.stack.namespace={self.name}"
        volumes = run("docker", "volume", "ls", "-q", "--filter", label).stdout.split()
        if volumes:
            run("docker", "volume", "rm", *volumes, check=False)


def _unhealthy(status_line: str) -> bool:
    return "(health: starting)" in status_line or "(unhealthy)" in status_line
