"""What `orderflow bench` loads: a stack it starts itself (free ports, a broker namespace of its
own, removed afterwards) or a running one (`--target`). Before a style runs, a preflight checks
that what the style needs answers, so a style whose service is not up gets a clear error."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import httpx
import pika
import pika.exceptions
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness.bench import backends
from harness.bench.backends import BackendSampler
from harness.bench.cost import RABBITMQ
from harness.bench.cpu import Pids
from harness.load.targets import Targets
from harness.rabbit.admin import channel, delete_topology
from harness.stack import postgres
from harness.stack.replicas import PROXY_L7
from harness.stack.supervisor import PROXY, Stack, StackConfig, connect_host
from harness.vocabulary import store_name, style_of
from services.kernel.broker.topology import Topology
from services.kernel.config import SERVICES, Settings, bracketed

PROBE_TIMEOUT_S = 3.0
CONSUMER_WAIT_S = 10.0


class TargetUnavailable(Exception):
    """The stack, or the part of it a style needs, does not answer."""


@dataclass(frozen=True)
class Target:
    targets: Targets
    description: str  # for the results: "own stack (...)" or the --target URL
    # Each service's HTTP address: where the audit reads the books.
    services: Mapping[str, str] = field(default_factory=dict)
    # Each service's process id (its replicas' ids, and the proxy's, with several), when the
    # bench started the stack itself: whose CPU it reads.
    pids: Pids = field(default_factory=dict)
    # The PostgreSQL backends serving the stack's databases (--store postgres), when the bench
    # started it: their CPU is the store's share of an order's (harness/bench/backends.py).
    backends: BackendSampler | None = None
    # Why the store's CPU is left out of the figures, by name (a server on another machine).
    store_not_attributed: Mapping[str, str] = field(default_factory=dict)
    # With several replicas per service: each replica's HTTP address and process id by its
    # name (`order-2`), which the telemetry sampler reads one by one.
    replicas: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    replica_pids: Mapping[str, int] = field(default_factory=dict)
    # The PostgreSQL server the stack's databases are on (--store postgres), when the bench
    # started it: where a store transaction is priced (harness/bench/transactions.py).
    postgres_admin_url: str | None = None

    def process_ids(self) -> Mapping[str, int]:
        """One process per name, for the telemetry sampler: each replica's with several."""
        if self.replicas:
            return self.replica_pids
        return {name: pid for name, pid in self.pids.items() if isinstance(pid, int)}

    def locust_options(self) -> list[str]:
        t = self.targets
        return [
            "--host", t.order_http,
            "--orderflow-inventory-url", t.inventory_http,
            "--orderflow-order-grpc", t.order_grpc,
            "--orderflow-inventory-grpc", t.inventory_grpc,
            "--orderflow-broker-url", t.broker_url,
            "--orderflow-broker-namespace", t.namespace,
        ]  # fmt: skip


def running_target(url: str, settings: Settings) -> Target:
    """A stack someone started (`orderflow up`, compose): order at `url`; the other addresses
    from the same ORDERFLOW_* environment `orderflow up` reads (on the URL's host, unless a
    service's own ORDERFLOW_<SERVICE>_HOST names another)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"--target must be the order service's URL, like http://host:8000: {url!r}"
        )
    host = {s: _host(s, parts.hostname, settings) for s in SERVICES}
    services = {s: f"{parts.scheme}://{host[s]}:{settings.address(s).http_port}" for s in SERVICES}
    services["order"] = url.rstrip("/")
    inventory = settings.address("inventory")
    targets = Targets(
        order_http=url.rstrip("/"),
        inventory_http=services["inventory"],
        order_grpc=f"{host['order']}:{settings.address('order').grpc_port}",
        inventory_grpc=f"{host['inventory']}:{inventory.grpc_port}",
        broker_url=settings.broker_url,
        namespace=settings.broker_namespace,
    )
    return Target(targets, url, services)


def _host(service: str, url_host: str, settings: Settings) -> str:
    """The service's host as it stands before `:port`. Order's is the URL's; another service's
    is the URL's too unless its own variable moved it (in compose each service is a host)."""
    own = settings.address(service).host
    moved = service != "order" and own != settings.host
    return bracketed(own if moved else url_host)


@dataclass(frozen=True)
class StackShape:
    """What `orderflow bench --store/--replicas` asks of the stack it starts."""

    store: str = "sqlite"  # or "postgres": a database per service on the machine's server
    replicas: int = 1
    host: str = "127.0.0.1"  # where the services listen: workers on other machines need theirs
    grpc_balancing: str = PROXY_L7  # how the order service's gRPC calls reach the replicas

    def describe(self) -> str:
        where = store_name(self.store)
        copies = "" if self.replicas == 1 else f", {self.replicas} replicas per service"
        listening = "" if self.host == "127.0.0.1" else f", listening on {self.host}"
        return f"{where}{copies}{listening}"


def shaped(config: StackConfig, shape: StackShape) -> StackConfig:
    """`config` with the shape's store and replicas: the one place the bench sets them."""
    if shape.store == "postgres":
        admin_url = os.environ.get("ORDERFLOW_POSTGRES_ADMIN_URL", postgres.DEFAULT_ADMIN_URL)
        config = dataclasses.replace(config, postgres_admin_url=admin_url)
    return dataclasses.replace(config, replicas=shape.replicas, grpc_balancing=shape.grpc_balancing)


@dataclass(frozen=True)
class OwnBroker:
    """A RabbitMQ node the bench started for its stack (--private-broker): its URL, and its
    process, which serves this run alone, so its CPU is counted with the services'."""

    url: str
    pid: int


@contextlib.contextmanager
def own_stack(
    data_dir: Path,
    settings: Settings,
    profile: str,
    extra_env: Mapping[str, str] | None = None,
    shape: StackShape | None = None,
    broker: OwnBroker | None = None,
) -> Iterator[Target]:
    """Start the four services on free ports, in a broker namespace of this run's own: on
    `broker` if given (its CPU is then read as `rabbitmq`), else on ORDERFLOW_BROKER_URL's."""
    url = settings.broker_url if broker is None else broker.url
    with started_stack(data_dir, url, profile, extra_env, shape=shape) as (_, target):
        if broker is not None:
            target = dataclasses.replace(target, pids={**target.pids, RABBITMQ: broker.pid})
        yield target


@contextlib.contextmanager
def started_stack(
    data_dir: Path,
    broker_url: str,
    profile: str,
    extra_env: Mapping[str, str] | None = None,
    taken: Collection[int] = (),
    shape: StackShape | None = None,
) -> Iterator[tuple[Stack, Target]]:
    """The four services on free ports with a fresh store, in a broker namespace of their own
    (removed afterwards, as are PostgreSQL databases); `extra_env` adds to their environment,
    and its ports are `taken`."""
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    env = {
        "ORDERFLOW_BROKER_URL": broker_url,
        "ORDERFLOW_BROKER_NAMESPACE": namespace,
        "ORDERFLOW_PROFILE": profile,
        **(extra_env or {}),
    }
    shape = shape or StackShape()
    config = StackConfig.on_free_ports(data_dir, host=shape.host, extra_env=env, exclude=taken)
    stack = Stack(shaped(config, shape))
    try:
        stack.start(reset=True, timeout_s=60)
        targets = stack_targets(stack, broker_url, namespace)
        services = {service: stack.url(service) for service in SERVICES}
        # The store and replicas are fields of their own in the results (run.store, .replicas).
        description = f"own stack (broker namespace {namespace})"
        backends, leaves_out = _store_cpu(stack.config)
        target = Target(
            targets,
            description,
            services,
            _pids(stack),
            backends,
            leaves_out,
            postgres_admin_url=stack.config.postgres_admin_url,
        )
        if stack.config.replicas > 1:
            target = dataclasses.replace(
                target, replicas=stack.replica_map(), replica_pids=stack.pids()
            )
        yield stack, target
    finally:
        stack.stop()
        with contextlib.suppress(postgres.PostgresUnavailable):
            stack.drop_databases()  # the run's own: a bench leaves no database behind
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            delete_topology(broker_url, Topology(namespace))


def _pids(stack: Stack) -> dict[str, int | tuple[int, ...]]:
    """Whose CPU is the stack's: each service's replicas together, and the proxy in front of
    them when there are several (its work is part of every order's)."""
    if stack.config.replicas == 1:
        return {service: stack.pid(service) for service in SERVICES}
    pids: dict[str, int | tuple[int, ...]] = {
        service: tuple(stack.pid(name) for name in stack.replicas(service)) for service in SERVICES
    }
    pids[PROXY] = stack.pid(PROXY)
    return pids


def _store_cpu(config: StackConfig) -> tuple[BackendSampler | None, dict[str, str]]:
    """Whose CPU stands for the store's: SQLite's is the services' own; PostgreSQL's, its
    backends serving the stack, when the server is on this machine."""
    admin_url = config.postgres_admin_url
    if admin_url is None:
        return None, {}
    if not backends.is_local(admin_url):
        return None, {backends.POSTGRESQL: backends.ELSEWHERE_REASON}
    names = tuple(config.database_name(service) for service in config.services)
    return BackendSampler(admin_url, names), {backends.SHARED: backends.SHARED_REASON}


def stack_targets(stack: Stack, broker_url: str, namespace: str) -> Targets:
    """The addresses of a stack the harness started."""
    config = stack.config
    return Targets(
        order_http=stack.url("order"),
        inventory_http=stack.url("inventory"),
        order_grpc=f"{connect_host(config.host)}:{config.grpc_port('order')}",
        inventory_grpc=f"{connect_host(config.host)}:{config.grpc_port('inventory')}",
        broker_url=broker_url,
        namespace=namespace,
    )


def preflight(target: Target, style: str) -> None:
    """Raise TargetUnavailable, saying what is missing, unless the style can run."""
    try:
        _check(target.targets, style_of(style))
    except TargetUnavailable as missing:
        raise TargetUnavailable(f"{style} cannot run: {missing}") from None


def _check(t: Targets, style: str) -> None:
    _http(f"{t.order_http}/ready", "the order service")
    _http(f"{t.inventory_http}/ready", "the inventory service")
    if style == "grpc":
        _grpc(t.order_grpc, "order")
        _grpc(t.inventory_grpc, "inventory")
    if style == "broker":
        _consumed(t.broker_url, Topology(t.namespace).queue("order"))


def _http(url: str, what: str) -> None:
    try:
        answer = httpx.get(url, timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as error:
        raise TargetUnavailable(f"{what} does not answer at {url}: {error}") from None
    if answer.status_code != 200:
        raise TargetUnavailable(f"{what} is not ready ({url} answered {answer.status_code})")


def _grpc(address: str, service: str) -> None:
    with grpc.insecure_channel(address) as grpc_channel:
        try:
            answer = health_pb2_grpc.HealthStub(grpc_channel).Check(
                health_pb2.HealthCheckRequest(), timeout=PROBE_TIMEOUT_S
            )
        except grpc.RpcError as error:
            raise TargetUnavailable(
                f"{service}'s gRPC server does not answer at {address}: {error.code().name}"
            ) from None
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        raise TargetUnavailable(f"{service}'s gRPC server at {address} is not serving")


def _consumed(url: str, queue: str) -> None:
    # /ready does not wait for the broker link (a service runs on without it): a stack that has
    # just started may have declared its queue and not yet begun consuming it.
    deadline = time.monotonic() + CONSUMER_WAIT_S
    while _consumers(url, queue) == 0:
        if time.monotonic() >= deadline:
            raise TargetUnavailable(
                f"nothing consumes {queue}: the order service is not on the broker"
            )
        time.sleep(0.2)


def _consumers(url: str, queue: str) -> int:
    try:
        with channel(url) as ch:
            return int(ch.queue_declare(queue, passive=True).method.consumer_count)
    except pika.exceptions.ChannelClosedByBroker:
        raise TargetUnavailable(
            f"the broker has no queue {queue}: is the stack's namespace right?"
        ) from None
    except (pika.exceptions.AMQPError, OSError) as error:
        raise TargetUnavailable(f"the broker does not answer at {_safe(url)}: {error!r}") from None


def _safe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 5672}"
