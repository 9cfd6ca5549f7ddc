"""Two replicas of every service on PostgreSQL behind HAProxy (`orderflow up --replicas 2 --store
postgres`): every style end to end through the proxy, and the requests seen by each replica of
inventory, which is where the spread (or the pinning) of each style shows. The two order replicas,
addressed each at its own port, on their shared database: watchers on one follow an order the
other drives; orders placed on both at once run each saga once; an order replica killed mid-charge
leaves its saga to the other, which finishes it exactly once after the claim's lease lapses.
One stack for all of it: starting one costs far more than any test here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.bench.cpu import clock_ticks, page_size
from harness.bench.results_telemetry_model import TelemetryPoint
from harness.clients import grpc as harness_grpc
from harness.clients import sse
from harness.clients.documents import ORDER_UPDATES_BRIEF
from harness.clients.faults import FaultControl
from harness.clients.graphql import transport_ws, ws_url
from harness.clients.rest import wait_for
from harness.clients.shapes import grpc_place
from harness.clients.styles import PLACERS, new_request
from harness.stack import proxy
from harness.stack.supervisor import PROXY, Stack, StackConfig
from harness.telemetry.sampler import TelemetrySampler
from harness.vocabulary import TERMINAL
from services._generated.orderflow.v1 import (
    inventory_pb2,
    inventory_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
)
from services.kernel.config import Settings, grpc_target_variable
from tests.conftest import ADMIN_URL
from tests.e2e import broker_helpers
from tests.e2e.conftest import E2E_ENV, broker_env, on_postgres
from tests.e2e.replica_helpers import (
    LEASE_S,
    LogMark,
    claimed_by,
    held,
    notified,
    place_in_background,
)
from tests.e2e.rest_client import available, charge, order_body
from tests.e2e.test_crash_recovery import order_of

pytestmark = pytest.mark.e2e

RESERVE = "/orderflow.v1.InventoryService/Reserve"
GET_PRODUCT = "/orderflow.v1.InventoryService/GetProduct"
GRPC_CALLS = "orderflow_grpc_requests_total"
WS_MESSAGES = "orderflow_websocket_messages_total"
CHARGE_DELAY_MS = 1500
WATCH_S = 15.0  # a stream that misses its order's updates fails here, rather than hanging
ORCHESTRATED_ASYNC = {"Prefer": "respond-async, flow=orchestrated"}
HAPPY_SAGA = ["place", "reserve", "charge", "confirm"]
ALL_STATUSES = ["PENDING", "RESERVED", "PAID", "CONFIRMED"]
DROVE = "recovery drove"  # what an order replica logs when it drives sagas it did not start


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        **E2E_ENV,
        **broker_env(),
        "ORDERFLOW_CONTROL_TOKEN": secrets.token_urlsafe(24),
        "ORDERFLOW_CLAIM_LEASE_S": str(LEASE_S),
    }
    config = StackConfig.on_free_ports(tmp_path_factory.mktemp("replicas"), extra_env=env)
    # Replicas need the PostgreSQL store: they share their service's database.
    replicated = dataclasses.replace(config, postgres_admin_url=ADMIN_URL, replicas=2)
    with on_postgres(replicated, timeout_s=120) as stack:
        yield stack


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


async def test_watchers_on_one_order_replica_see_every_status_of_an_order_the_other_drives(
    replicated: Stack,
) -> None:
    """order-1 drives the order; gRPC WatchOrder and the GraphQL subscription on order-2 see
    every status of it, from PENDING (reserve held until both subscribed) to the end: the
    changes reach order-2 by LISTEN/NOTIFY (services/order/update_relay.py). order-1 holds the
    saga's claim and order-2 drives nothing meanwhile, so what order-2's clients see came
    through the database."""
    driver, watcher = replicated.replica_urls("order")
    watcher_grpc = replicated.replica_grpc_addresses("order")[1]
    watcher_log = LogMark(replicated.log_path("order-2"))
    async with (
        httpx.AsyncClient(timeout=30, trust_env=False) as http,
        grpc.aio.insecure_channel(watcher_grpc) as channel,
        transport_ws(ws_url(watcher)) as graphql,
    ):
        with held(replicated, "inventory.reserve"):  # the order waits PENDING on order-1
            answer = await http.post(
                f"{driver}/orders", json=order_body({"KB-MECH": 1}), headers=ORCHESTRATED_ASYNC
            )
            assert answer.status_code == 202, answer.text
            order_id = answer.json()["id"]
            watch = order_pb2_grpc.OrderServiceStub(channel).WatchOrder(
                order_pb2.WatchOrderRequest(id=order_id)
            )
            first = await watch.read()
            await graphql.subscribe("1", ORDER_UPDATES_BRIEF, {"id": order_id})
            first_pushed = await graphql.receive()
            assert claimed_by(replicated, order_id) == "order-1"
        async with asyncio.timeout(30):  # without the relay, order-2's watchers wait forever
            rest = []
            while (update := await watch.read()) != grpc.aio.EOF:
                rest.append(update)
            pushed = [first_pushed["payload"], *await graphql.until_complete("1")]
        watched = [
            order_pb2.Order.Status.Name(o.status)
            for o in (first, *rest)
            if isinstance(o, order_pb2.Order)
        ]
        assert watched == ALL_STATUSES
        assert [p["data"]["orderUpdates"]["status"] for p in pushed] == ALL_STATUSES
        assert await watch.code() is grpc.StatusCode.OK
    assert DROVE not in watcher_log.since()


def test_orders_placed_on_both_order_replicas_at_once_run_each_saga_once(
    replicated: Stack, http: httpx.Client
) -> None:
    """Both replicas' recovery loops run every half second, yet each saga is driven once: by
    the replica holding its claim. Each saga log is read on the replica that did not place it."""
    replicas = replicated.replica_urls("order")
    placed_on = replicas * 6
    answers: list[dict[str, Any] | None] = [None] * len(placed_on)

    def place(index: int) -> None:
        with httpx.Client(timeout=30.0) as client:
            body = order_body({"KB-MECH": 1})
            answers[index] = client.post(f"{placed_on[index]}/orders", json=body).json()

    threads = [threading.Thread(target=place, args=(i,)) for i in range(len(placed_on))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    confirmed = [answer for answer in answers if answer and answer["status"] == "CONFIRMED"]
    assert len(confirmed) == len(placed_on), answers
    for url, answer in zip(placed_on, confirmed, strict=True):
        other = replicas[1 - replicas.index(url)]
        saga = http.get(f"{other}/orders/{answer['id']}/saga").json()["steps"]
        assert [step["step"] for step in saga] == HAPPY_SAGA
        assert claimed_by(replicated, answer["id"]) is None  # a finished saga holds no claim


def test_an_order_replica_killed_mid_charge_is_finished_by_the_other_once(
    replicated: Stack, http: httpx.Client
) -> None:
    """order-1 is SIGKILLed while payment holds its charge: order-2 leaves the order alone
    while order-1 lives (its claim renewed), then, its lease lapsed, finishes it: charged once,
    the stock consistent, the customer told once. order-1 comes back afterwards."""
    first, second = replicated.replica_urls("order")
    before = available(http, replicated, "MON-27")
    body = order_body({"MON-27": 2})
    survivor_log = LogMark(replicated.log_path("order-2"))
    try:
        with held(replicated, "payment.charge"):
            client = place_in_background(first, body)
            order = order_of(http, replicated, body["customer_id"], "RESERVED")
            # Two leases and many recovery rounds of order-2 later, order-1 still holds it.
            time.sleep(2.5 * LEASE_S)
            assert claimed_by(replicated, order["id"]) == "order-1"
            replicated.kill("order-1")
            client.join(timeout=10)
        # Released, payment may take order-1's charge too: order-2's repeats it, answered once.
        final = wait_for(http, f"{second}/orders/{order['id']}", TERMINAL)
        assert final["status"] in {"CONFIRMED", "CANCELLED"}
        held_units = before - available(http, replicated, "MON-27")
        if final["status"] == "CONFIRMED":
            assert (charge(http, replicated, final["id"]), held_units) == ("CHARGED", 2)
        else:
            assert charge(http, replicated, final["id"]) in {None, "REFUNDED", "VOIDED"}
            assert held_units == 0
        saga = http.get(f"{second}/orders/{final['id']}/saga").json()["steps"]
        assert len([s for s in saga if s["step"] == "charge"]) == 1  # order-2's; order-1 saved none
        assert claimed_by(replicated, final["id"]) is None
        assert notified(http, replicated, final["id"]) == [f"order.{final['status'].lower()}"]
        assert "recovery drove 1 unfinished order(s)" in survivor_log.since()
    finally:  # only now: a restarted order-1 frees its old claims at once and could drive it
        replicated.restart("order-1", timeout_s=60)


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
