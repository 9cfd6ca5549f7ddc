"""The real stack for end-to-end tests: four service processes on free ports, fresh databases."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pika.exceptions
import pytest

from harness.rabbit.admin import delete_topology
from harness.stack import postgres
from harness.stack.supervisor import Stack, StackConfig
from services.kernel.broker.topology import Topology

# Short enough that a test holding a service paused sees the saga react, long enough for CI.
E2E_ENV = {"ORDERFLOW_CALL_TIMEOUT_S": "10", "ORDERFLOW_RECOVERY_INTERVAL_S": "0.5"}


# The machine's own broker; each stack works in a namespace of its own on it (see broker_env).
MACHINE_BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"


def broker_env(url: str = MACHINE_BROKER) -> dict[str, str]:
    """A fresh namespace per stack, so stacks of parallel runs never see each other's events."""
    namespace = f"e2e-{uuid.uuid4().hex[:12]}"
    return {"ORDERFLOW_BROKER_URL": url, "ORDERFLOW_BROKER_NAMESPACE": namespace}


def start_stack(data_dir: Path, **extra_env: str) -> Stack:
    env = {**E2E_ENV, **broker_env(), **extra_env}
    stack = Stack(StackConfig.on_free_ports(data_dir, extra_env=env))
    try:
        stack.start(reset=True, timeout_s=60)
    except BaseException:
        stack.stop()  # the services that did start have declared the namespace's topology
        remove_topology(stack)
        raise
    return stack


def remove_topology(stack: Stack) -> None:
    """Delete the stack's queues and exchanges from the broker once its services are stopped."""
    env = stack.config.extra_env
    topology = Topology(env["ORDERFLOW_BROKER_NAMESPACE"])
    with contextlib.suppress(pika.exceptions.AMQPConnectionError):
        delete_topology(env["ORDERFLOW_BROKER_URL"], topology)


@contextlib.contextmanager
def on_postgres(
    config: StackConfig, timeout_s: float = 60, before_stop: Callable[[], None] | None = None
) -> Iterator[Stack]:
    """The stack `config` describes, on its PostgreSQL databases (made for it, dropped after,
    with its broker topology); it fails, not skips, without a server. `before_stop`: what must
    happen first for the services to stop cleanly (a gate of the test's reopened, say)."""
    stack = Stack(config)
    try:
        stack.start(reset=True, timeout_s=timeout_s)
    except postgres.PostgresUnavailable as error:
        pytest.fail(f"the stack on PostgreSQL needs a server: {error}", pytrace=False)
    try:
        with stack:
            yield stack
    finally:
        if before_stop is not None:
            before_stop()
        stack.stop()
        remove_topology(stack)
        stack.drop_databases()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    with running:
        yield running
    remove_topology(running)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client
