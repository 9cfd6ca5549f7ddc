"""Two replicas of every service on PostgreSQL behind HAProxy (`orderflow up --replicas 2 --store
postgres`): every style end to end through the proxy, and the requests seen by each replica of
inventory, which is where the spread (or the pinning) of each style shows.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.bench.cpu import clock_ticks, page_size
from harness.bench.results_telemetry_model import TelemetryPoint
from harness.clients import grpc as harness_grpc
from harness.clients import sse
from harness.clients.faults import FaultControl
from harness.clients.shapes import grpc_place
from harness.clients.styles import PLACERS, new_request
from harness.stack import postgres, proxy
from harness.stack.supervisor import PROXY, Stack, StackConfig
from harness.telemetry.sampler import TelemetrySampler
from services._generated.orderflow.v1 import (
    inventory_pb2,
    inventory_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
)
from services.kernel.config import Settings, grpc_target_variable
from tests.conftest import ADMIN_URL
from tests.e2e import broker_helpers
from tests.e2e.conftest import E2E_ENV, broker_env, remove_topology

pytestmark = pytest.mark.e2e

RESERVE = "/orderflow.v1.InventoryService/Reserve"
GET_PRODUCT = "/orderflow.v1.InventoryService/GetProduct"
GRPC_CALLS = "orderflow_grpc_requests_total"
WS_MESSAGES = "orderflow_websocket_messages_total"
CHARGE_DELAY_MS = 1500
WATCH_S = 15.0  # a stream that misses its order's updates fails here, rather than hanging


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        **E2E_ENV,
        **broker_env(),
        "ORDERFLOW_CONTROL_TOKEN": secrets.token_urlsafe(24),
    }
    config = StackConfig.on_free_ports(tmp_path_factory.mktemp("replicas"), extra_env=env)
    stack = Stack(dataclasses.replace(config, postgres_admin_url=ADMIN_URL, replicas=2))
    try:
        stack.start(reset=True, timeout_s=120)
    except postgres.PostgresUnavailable as error:
        pytest.fail(f"replicas need the PostgreSQL store: {error}", pytrace=False)
    try:
        with stack:
            yield stack
    finally:
        stack.stop()
        remove_topology(stack)
        stack.drop_databases()


def settings_of(stack: Stack) -> Settings:
    """What a client of the stack reads: the services' canonical addresses, the proxy's."""
    return Settings.from_env(stack.config.environment({}))


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().partition("=")[::2] for entry in raw if entry)


def test_each_replica_is_a_process_of_its_own_on_its_services_database(
    replicated: Stack,
) -> None:
    names = replicated.replicas("inventory")
    assert names == ["inventory-1", "inventory-2"]
    envs = [environ(replicated.pid(name)) for name in names]
    assert [env["ORDERFLOW_REPLICA_ID"] for env in envs] == names
    assert len({env["ORDERFLOW_DATABASE_URL"] for env in envs}) == 1  # one database, shared
    assert len({env["ORDERFLOW_INVENTORY_HTTP_PORT"] for env in envs}) == 2  # ports of its own
    assert all(replicated.log_path(name).name == f"{name}.log" for name in names)
    # The order service reaches inventory at its canonical port: the proxy's.
    order_env = environ(replicated.pid("order-1"))
    assert order_env["ORDERFLOW_INVENTORY_HTTP_PORT"] == str(
        replicated.config.http_port("inventory")
    )
    assert replicated.pid(PROXY) not in {replicated.pid(name) for name in names}
    assert replicated.unexpected_exits() == {}


@pytest.mark.parametrize("style", list(PLACERS))
def test_every_style_confirms_an_order_through_the_proxy(replicated: Stack, style: str) -> None:
    if style == "broker":
        broker_helpers.require_broker(broker_helpers.broker_url(replicated))
    placed = PLACERS[style](settings_of(replicated), new_request("KB-MECH", 1))
    assert placed.status == "CONFIRMED"
    # Either order replica answers for it: they share the order service's database.
    with httpx.Client(timeout=10) as http:
        for replica in replicated.replica_urls("order"):
            answer = http.get(f"{replica}/orders/{placed.order_id}")
            assert answer.json()["status"] == "CONFIRMED"


@pytest.mark.parametrize(
    ("style", "counter"),
    [
        ("rest", ("orderflow_http_requests_total", {"route": "/reservations"})),
        ("graphql", ("orderflow_http_requests_total", {"route": "/graphql"})),
        ("grpc", (GRPC_CALLS, {"method": RESERVE})),
        ("broker", ("orderflow_broker_consumed_total", {"type": "order.placed"})),
    ],
)
def test_each_styles_reservations_spread_over_both_inventory_replicas(
    replicated: Stack, style: str, counter: tuple[str, dict[str, str]]
) -> None:
    """Through the proxy (REST, GraphQL, gRPC at L7: each call balanced) or as competing
    consumers of inventory's queue (broker): four orders reach both replicas."""
    if style == "broker":
        broker_helpers.require_broker(broker_helpers.broker_url(replicated))
    before = per_replica(replicated, "inventory", *counter)
    settings = settings_of(replicated)
    for _ in range(4):
        assert PLACERS[style](settings, new_request("CABLE-USBC", 1)).status == "CONFIRMED"
    gained = [
        after - earlier
        for after, earlier in zip(
            per_replica(replicated, "inventory", *counter), before, strict=True
        )
    ]
    assert sum(gained) >= 4
    assert all(count > 0 for count in gained), f"{style}: reservations per replica {gained}"


def test_websocket_calls_ride_the_socket_the_proxy_balanced_once(replicated: Stack) -> None:
    """Order calls inventory over one long-lived WebSocket per order replica: the proxy
    balances each socket at its upgrade, then every JSON-RPC call rides it, unbalanced."""
    before = per_replica(replicated, "inventory", WS_MESSAGES, {"route": "/ws"})
    upgrades_before = proxied(replicated, "inventory_http")
    settings = settings_of(replicated)
    for _ in range(4):
        assert PLACERS["websocket"](settings, new_request("CABLE-USBC", 1)).status == "CONFIRMED"
    after = per_replica(replicated, "inventory", WS_MESSAGES, {"route": "/ws"})
    assert sum(a - b for a, b in zip(after, before, strict=True)) >= 4  # a reserve per order
    # At most one new socket per order replica passed the proxy; the calls did not.
    assert proxied(replicated, "inventory_http") - upgrades_before <= 2


def test_grpc_through_l4_pins_the_connection_while_l7_and_round_robin_spread_calls(
    replicated: Stack,
) -> None:
    """One channel, ten calls: behind the proxy's TCP frontend every call lands on the replica
    the connection went to; through its HTTP/2 frontend, or gRPC's own round_robin over both
    replicas' addresses, they spread."""
    l4 = replicated.grpc_l4_address("inventory")
    assert l4 is not None
    targets = {
        "l4": l4,
        "l7": f"127.0.0.1:{replicated.config.grpc_port('inventory')}",
        "client": replicated.grpc_target("inventory"),  # the harness's channel: round_robin
    }
    spreads = {}
    for name, target in targets.items():
        before = per_replica(replicated, "inventory", GRPC_CALLS, {"method": GET_PRODUCT})
        with harness_grpc.channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            stub = inventory_pb2_grpc.InventoryServiceStub(channel)
            for _ in range(10):
                stub.GetProduct(inventory_pb2.GetProductRequest(sku="KB-MECH"), timeout=10)
                time.sleep(0.02)
        after = per_replica(replicated, "inventory", GRPC_CALLS, {"method": GET_PRODUCT})
        spreads[name] = sorted(a - b for a, b in zip(after, before, strict=True))
    assert spreads["l4"] == [0, 10]
    assert spreads["l7"][0] > 0, spreads  # round robin per call: 5 and 5
    assert all(count > 0 for count in spreads["client"]), spreads


def test_the_telemetry_sampler_reads_the_requests_each_replica_received(
    replicated: Stack,
) -> None:
    """What results.json records per style with several replicas: each replica's requests."""
    settings = settings_of(replicated)
    for _ in range(2):  # a reservation for each inventory replica, round robin
        assert PLACERS["rest"](settings, new_request("CABLE-USBC", 1)).status == "CONFIRMED"
    sampler = TelemetrySampler(
        {s: replicated.url(s) for s in replicated.config.services},
        replicated.pids,
        replicas=replicated.replica_map(),
    )
    with httpx.Client(trust_env=False) as client:
        point = sampler.sample(client, clock_ticks(), page_size())
    sampler.points.append(point)
    TelemetryPoint.model_validate(sampler.section(point["at"])["series"][0])  # as results.json
    inventory = point["replicas"]["inventory"]
    assert sorted(inventory) == ["inventory-1", "inventory-2"]
    for reading in inventory.values():
        assert reading["answered"] and reading["rss_mb"] > 0
        assert set(reading["requests"]) == {"http", "grpc", "websocket", "broker"}
        assert reading["requests"]["http"] > 0


@pytest.fixture
def slow_charges(replicated: Stack) -> Iterator[None]:
    """Every payment replica takes a while to charge: an order waits RESERVED meanwhile."""
    token = replicated.config.extra_env["ORDERFLOW_CONTROL_TOKEN"]
    controls = [FaultControl(port, token) for port in replicated.replica_control_ports("payment")]
    for control in controls:
        control.set("payment.charge", latency_ms=CHARGE_DELAY_MS)
    try:
        yield
    finally:
        for control in controls:
            control.clear()


def test_a_watcher_on_either_order_replica_sees_the_order_finish(
    replicated: Stack, slow_charges: None
) -> None:
    """Live updates across replicas: one replica drives the order, a WatchOrder stream and an
    SSE stream on each replica follow it to CONFIRMED. Each replica's own address is used, so
    one of each pair is certainly on the replica that does not drive it."""
    request = new_request("KB-MECH", 1)
    with grpc.insecure_channel(f"127.0.0.1:{replicated.config.grpc_port('order')}") as channel:
        placing = order_pb2_grpc.OrderServiceStub(channel).PlaceOrder.future(grpc_place(request))
        order_id = reserved_order(replicated, request["customer_id"])
        with ThreadPoolExecutor(4) as pool:
            watches = [pool.submit(watch_grpc, a, order_id) for a in grpc_addresses(replicated)]
            streams = [
                pool.submit(watch_sse, url, order_id) for url in replicated.replica_urls("order")
            ]
            seen = [w.result() for w in watches] + [s.result() for s in streams]
        assert placing.result(timeout=30).order.status == order_pb2.Order.CONFIRMED
    assert seen == [["RESERVED", "PAID", "CONFIRMED"]] * 2 + [("CONFIRMED", None)] * 2


def grpc_addresses(stack: Stack) -> list[str]:
    return stack.replica_grpc_addresses("order")


def reserved_order(stack: Stack, customer_id: str) -> str:
    deadline = time.monotonic() + 10
    with httpx.Client(timeout=10) as http:
        while time.monotonic() < deadline:
            answer = http.get(f"{stack.url('order')}/orders", params={"customer_id": customer_id})
            found = answer.json()["orders"]
            if found and found[0]["status"] == "RESERVED":
                return str(found[0]["id"])
            time.sleep(0.02)
    raise AssertionError(f"no RESERVED order for {customer_id} within 10 s")


def watch_grpc(address: str, order_id: str) -> list[str]:
    with grpc.insecure_channel(address) as channel:
        stub = order_pb2_grpc.OrderServiceStub(channel)
        updates = stub.WatchOrder(order_pb2.WatchOrderRequest(id=order_id), timeout=WATCH_S)
        return [order_pb2.Order.Status.Name(update.status) for update in updates]


def watch_sse(url: str, order_id: str) -> sse.Outcome | None:
    with httpx.Client(timeout=WATCH_S) as http:
        return sse.watch(http, f"{url}/orders/{order_id}")[1]


def test_a_crashed_inventory_replica_leaves_the_rotation_and_rejoins_it(replicated: Stack) -> None:
    """SIGKILL one replica: the proxy retries a refused connection on the other and its check
    takes the dead one out, so every order still confirms; restarted, it gets its share."""
    counter = ("orderflow_http_requests_total", {"route": "/reservations"})
    settings = settings_of(replicated)
    replicated.kill("inventory-2")
    try:
        for _ in range(4):
            assert PLACERS["rest"](settings, new_request("CABLE-USBC", 1)).status == "CONFIRMED"
    finally:
        replicated.restart("inventory-2", timeout_s=60)
    before = per_replica(replicated, "inventory", *counter)
    for _ in range(4):
        assert PLACERS["rest"](settings, new_request("CABLE-USBC", 1)).status == "CONFIRMED"
    after = per_replica(replicated, "inventory", *counter)
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)


def test_the_order_service_balances_its_own_grpc_calls_over_every_inventory_replica(
    replicated: Stack,
) -> None:
    """--grpc-balancing client: order's channel to inventory names both replicas and spreads
    the Reserve calls round robin, the proxy out of the way. (Last: it restarts order.)"""
    target = replicated.grpc_target("inventory")
    replicated.restart("order", timeout_s=60, extra_env={grpc_target_variable("inventory"): target})
    assert environ(replicated.pid("order-2"))[grpc_target_variable("inventory")] == target
    counter = (GRPC_CALLS, {"method": RESERVE})
    before = per_replica(replicated, "inventory", *counter)
    proxied_before = proxied(replicated, "inventory_grpc")
    settings = settings_of(replicated)
    for _ in range(6):
        assert PLACERS["grpc"](settings, new_request("CABLE-USBC", 1)).status == "CONFIRMED"
    after = per_replica(replicated, "inventory", *counter)
    gained = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(gained) == 6 and all(count > 0 for count in gained), gained
    assert proxied(replicated, "inventory_grpc") == proxied_before  # none went through it


def proxied(stack: Stack, prefix: str) -> int:
    """What the proxy has passed to the servers of the backends named `prefix...`: requests
    (a WebSocket: its upgrade), or connections in mode tcp."""
    stats = stack.proxy_stats_url()
    assert stats is not None
    with httpx.Client(timeout=10, trust_env=False) as client:
        counts = proxy.served(client, stats)
    return sum(n for (backend, _), n in counts.items() if backend.startswith(prefix))


def per_replica(stack: Stack, service: str, name: str, labels: dict[str, str]) -> list[float]:
    """The counter `name` (its samples with `labels`, summed) on each replica of `service`."""
    return [sample_sum(url, name, labels) for url in stack.replica_urls(service)]


def sample_sum(url: str, name: str, labels: dict[str, str]) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
