"""Two order processes on one PostgreSQL database: the stack's own (B) and a second replica (A),
started the way the supervisor starts a service. A client following an order on A, over gRPC
`WatchOrder` and the GraphQL subscription, sees every status of an order B drives, to the end:
the changes reach A by LISTEN/NOTIFY (services/order/update_relay.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest

from harness.clients.documents import ORDER_UPDATES_BRIEF
from harness.clients.graphql import transport_ws, ws_url
from harness.rabbit.users import service_environment
from harness.stack import postgres
from harness.stack.ports import free_ports
from harness.stack.process import Child
from harness.stack.supervisor import Stack, StackConfig
from services._generated.orderflow.v1 import order_pb2, order_pb2_grpc
from services.kernel.config import port_variable
from tests.conftest import ADMIN_URL
from tests.e2e.conftest import E2E_ENV, broker_env, remove_topology
from tests.e2e.rest_client import order_body

pytestmark = pytest.mark.e2e
ORCHESTRATED_ASYNC = {"Prefer": "respond-async, flow=orchestrated"}


@dataclasses.dataclass(frozen=True)
class Replica:
    http_url: str
    grpc_target: str


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.on_free_ports(
        tmp_path_factory.mktemp("replicas"), extra_env={**E2E_ENV, **broker_env()}
    )
    stack = Stack(dataclasses.replace(config, postgres_admin_url=ADMIN_URL))
    try:
        stack.start(reset=True, timeout_s=60)
    except postgres.PostgresUnavailable as error:
        pytest.fail(f"replicas on PostgreSQL need a server: {error}", pytrace=False)
    try:
        with stack:
            yield stack
    finally:
        stack.stop()
        remove_topology(stack)
        stack.drop_databases()


@pytest.fixture(scope="module")
def replica(pg_stack: Stack) -> Iterator[Replica]:
    """A second order process on the stack's order database, on ports of its own. Its recovery
    pass runs once, at start (before any order): a saga B drives is never driven by A too, so
    whatever A's watchers see came from B, through the database."""
    config = pg_stack.config
    http_port, grpc_port = free_ports(2, config.host)
    env = config.environment(os.environ)
    env.update(service_environment(env, "order"))
    env["ORDERFLOW_DATABASE_URL"] = postgres.url_of(ADMIN_URL, config.database_name("order"))
    env[port_variable("order", "http")] = str(http_port)
    env[port_variable("order", "grpc")] = str(grpc_port)
    env["ORDERFLOW_RECOVERY_INTERVAL_S"] = "3600"
    child = Child.spawn("order", env, config.data_dir / "logs" / "order-replica.log")
    try:
        http_url = f"http://{config.host}:{http_port}"
        _wait_ready(child, http_url)
        yield Replica(http_url, f"{config.host}:{grpc_port}")
    finally:
        child.terminate()
        child.wait(time.monotonic() + 10)


def _wait_ready(child: Child, url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            assert child.is_running(), f"the second order replica exited:\n{child.tail()}"
            try:
                if client.get(f"{url}/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"the second order replica was not ready in {timeout_s}s:\n{child.tail()}")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        yield client


async def test_watchers_on_one_replica_see_every_status_of_an_order_the_other_drives(
    pg_stack: Stack, replica: Replica, http: httpx.AsyncClient
) -> None:
    async with (
        grpc.aio.insecure_channel(replica.grpc_target) as channel,
        transport_ws(ws_url(replica.http_url)) as graphql,
    ):
        pg_stack.pause("inventory")  # the order waits PENDING on B while A's clients subscribe
        try:
            answer = await http.post(
                f"{pg_stack.url('order')}/orders",
                json=order_body({"KB-MECH": 1}),
                headers=ORCHESTRATED_ASYNC,
            )
            assert answer.status_code == 202, answer.text
            order_id = answer.json()["id"]
            watch = order_pb2_grpc.OrderServiceStub(channel).WatchOrder(
                order_pb2.WatchOrderRequest(id=order_id)
            )
            first = await watch.read()
            await graphql.subscribe("1", ORDER_UPDATES_BRIEF, {"id": order_id})
            first_pushed = await graphql.receive()
        finally:
            pg_stack.resume("inventory")
        async with asyncio.timeout(30):  # without the relay, A's watchers wait forever
            rest = []
            while (update := await watch.read()) != grpc.aio.EOF:
                rest.append(update)
            pushed = [first_pushed["payload"], *await graphql.until_complete("1")]
    watched = [
        order_pb2.Order.Status.Name(o.status)
        for o in (first, *rest)
        if isinstance(o, order_pb2.Order)
    ]
    assert watched == ["PENDING", "RESERVED", "PAID", "CONFIRMED"]
    followed = [p["data"]["orderUpdates"]["status"] for p in pushed]
    assert followed == ["PENDING", "RESERVED", "PAID", "CONFIRMED"]
    assert await watch.code() is grpc.StatusCode.OK


def test_the_replica_serves_the_orders_of_the_shared_database(
    pg_stack: Stack, replica: Replica
) -> None:
    with httpx.Client(timeout=30, trust_env=False) as http:
        placed = http.post(f"{pg_stack.url('order')}/orders", json=order_body({"KB-MECH": 1}))
        assert placed.status_code == 201, placed.text
        read = http.get(f"{replica.http_url}/orders/{placed.json()['id']}")
    assert read.json()["status"] == placed.json()["status"] == "CONFIRMED"
