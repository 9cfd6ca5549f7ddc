"""The stack a style of a scenario runs on, as its `stack:` section asks (spec.py, StackSpec):
the bench's own (one process per service, SQLite) or one on PostgreSQL, with replicas behind
the proxy (docs/scale-out.md), its databases created for the style and dropped after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import pika.exceptions

from harness.bench.target import Target, stack_targets, started_stack
from harness.rabbit.admin import delete_topology
from harness.scenarios.spec import StackSpec
from harness.stack import postgres
from harness.stack.supervisor import Stack, StackConfig
from services.kernel.broker.topology import Topology
from services.kernel.config import SERVICES

START_TIMEOUT_S = 120.0  # every replica of every service, then the proxy seeing them up


def admin_url() -> str:
    """Where the stack's databases are created: the same variable `orderflow up` reads."""
    return os.environ.get("ORDERFLOW_POSTGRES_ADMIN_URL", postgres.DEFAULT_ADMIN_URL)


@contextlib.contextmanager
def scenario_stack(
    spec: StackSpec,
    data_dir: Path,
    broker_url: str,
    profile: str,
    extra_env: Mapping[str, str],
    taken: Collection[int],
) -> Iterator[tuple[Stack, Target]]:
    if spec.store == "sqlite" and spec.claim_lease_s is None:
        with started_stack(data_dir, broker_url, profile, extra_env, taken) as pair:
            yield pair
        return
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    env = {
        "ORDERFLOW_BROKER_URL": broker_url,
        "ORDERFLOW_BROKER_NAMESPACE": namespace,
        "ORDERFLOW_PROFILE": profile,
        **extra_env,
    }
    if spec.claim_lease_s is not None:
        env["ORDERFLOW_CLAIM_LEASE_S"] = f"{spec.claim_lease_s:g}"
    config = StackConfig.on_free_ports(data_dir, extra_env=env, exclude=taken)
    postgres_url = admin_url() if spec.store == "postgres" else None
    stack = Stack(
        dataclasses.replace(
            config,
            postgres_admin_url=postgres_url,
            replicas=spec.replicas,
            grpc_balancing=spec.grpc_balancing,
        )
    )
    try:
        stack.start(reset=True, timeout_s=START_TIMEOUT_S)
        targets = stack_targets(stack, broker_url, namespace)
        services = {service: stack.url(service) for service in SERVICES}
        description = f"own stack ({spec.describe()}; broker namespace {namespace})"
        yield stack, Target(targets, description, services, stack.pids())
    finally:
        stack.stop()
        with contextlib.suppress(postgres.PostgresUnavailable):
            stack.drop_databases()  # the style's own: a scenario leaves no database behind
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            delete_topology(broker_url, Topology(namespace))


def order_database(stack: Stack) -> str | None:
    """The order service's PostgreSQL database (every replica's), if it has one."""
    config = stack.config
    if config.postgres_admin_url is None:
        return None
    return postgres.url_of(config.postgres_admin_url, config.database_name("order"))
