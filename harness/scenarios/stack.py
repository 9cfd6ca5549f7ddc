"""The stack a style of a scenario runs on, as its `stack:` section asks (spec.py, StackSpec):
the bench's own (harness/bench/target.py, `started_stack`), shaped like `orderflow bench
--store/--replicas/--grpc-balancing`, with the claim lease the section sets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from harness.bench.target import StackShape, Target, started_stack
from harness.scenarios.spec import StackSpec
from harness.stack import postgres
from harness.stack.supervisor import Stack


@contextlib.contextmanager
def scenario_stack(
    spec: StackSpec,
    data_dir: Path,
    broker_url: str,
    profile: str,
    extra_env: Mapping[str, str],
    taken: Collection[int],
) -> Iterator[tuple[Stack, Target]]:
    env = dict(extra_env)
    if spec.claim_lease_s is not None:
        env["ORDERFLOW_CLAIM_LEASE_S"] = f"{spec.claim_lease_s:g}"
    shape = StackShape(store=spec.store, replicas=spec.replicas, grpc_balancing=spec.grpc_balancing)
    with started_stack(data_dir, broker_url, profile, env, taken, shape=shape) as pair:
        yield pair


def order_database(stack: Stack) -> str | None:
    """The order service's PostgreSQL database (every replica's), if it has one."""
    config = stack.config
    if config.postgres_admin_url is None:
        return None
    return postgres.url_of(config.postgres_admin_url, config.database_name("order"))
