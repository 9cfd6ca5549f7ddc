"""The JSON-RPC WebSocket adapters in-process, over real sockets served by uvicorn.

Inventory and payment run their real apps over SQLite files; the order service runs its real
saga with the WebSocket downstream clients calling them, so an order here travels the same path
as in the running stack, in one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.inventory.catalog import SEED
from services.inventory.handlers import InventoryHandlers
from services.inventory.main import create_app as inventory_app
from services.inventory.store import InventoryStore
from services.kernel.config import Settings
from services.kernel.jsonrpc.server import DEFAULT_MAX_MESSAGE_BYTES
from services.kernel.telemetry import Telemetry
from services.order.downstream import jsonrpc
from services.order.downstream.interfaces import ChargeStatus, Downstream
from services.order.handlers import OrderHandlers
from services.order.main import create_app as order_app
from services.order.saga import Saga
from services.order.store import OrderStore
from services.payment.main import create_app as payment_app
from services.payment.main import create_handlers
from services.payment.store import PaymentStore
from tests.unit.fakes import FakeNotifier

LIMIT = DEFAULT_MAX_MESSAGE_BYTES


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def served(app: Any, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve `app` as services/kernel/serve.py does, on a free port; yields the port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.bind((host, 0))
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        ws_max_size=2 * LIMIT,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, no event)
        await asyncio.sleep(0.01)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Rpc:
    """A raw JSON-RPC client: what it sends is exactly what a test writes."""

    socket: ClientConnection
    next_id: int = 0

    async def call(
        self, method: str, params: object = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The response, and the notifications that arrived before it."""
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.socket.send(json.dumps(message))
        return await self.answer(self.next_id)

    async def answer(self, request_id: object) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        pushed: list[dict[str, Any]] = []
        while True:
            received = json.loads(await asyncio.wait_for(self.socket.recv(), 10))
            if "id" in received and received["id"] == request_id:
                return received, pushed
            pushed.append(received)

    async def raw(self, text: str | bytes) -> dict[str, Any]:
        await self.socket.send(text)
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(self.socket.recv(), 10))
        return answer


@dataclass
class Services:
    ports: dict[str, int]
    inventory: InventoryHandlers
    payment_store: PaymentStore
    order_telemetry: Telemetry

    @contextlib.asynccontextmanager
    async def rpc(self, service: str) -> AsyncIterator[Rpc]:
        async with connect(f"ws://127.0.0.1:{self.ports[service]}/ws") as made:
            yield Rpc(made)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:
        inventory_store = InventoryStore.open(tmp_path / "inventory.db")
        stack.callback(inventory_store.close)
        inventory_store.seed(SEED)
        inventory = InventoryHandlers(inventory_store)
        app = inventory_app(
            inventory_store, inventory, Telemetry("inventory"), max_body_bytes=LIMIT
        )
        inventory_port = await stack.enter_async_context(served(app))

        payment_store = PaymentStore.open(tmp_path / "payment.db")
        stack.callback(payment_store.close)
        telemetry = Telemetry("payment")
        app = payment_app(
            create_handlers(payment_store, telemetry), telemetry, max_body_bytes=LIMIT
        )
        payment_port = await stack.enter_async_context(served(app))

        ports = {"inventory": inventory_port, "payment": payment_port}
        order_telemetry = Telemetry("order")
        handlers = await order_handlers(tmp_path, ports, order_telemetry, stack)

        async def ready() -> Mapping[str, bool]:
            return await handlers.is_ready()

        app = order_app(handlers, order_telemetry, ready, LIMIT)
        ports["order"] = await stack.enter_async_context(served(app))
        yield Services(ports, inventory, payment_store, order_telemetry)


async def order_handlers(
    tmp_path: Path, ports: dict[str, int], telemetry: Telemetry, stack: AsyncExitStack
) -> OrderHandlers:
    settings = Settings.from_env(
        {
            "ORDERFLOW_INVENTORY_HTTP_PORT": str(ports["inventory"]),
            "ORDERFLOW_PAYMENT_HTTP_PORT": str(ports["payment"]),
            "ORDERFLOW_CALL_TIMEOUT_S": "5",
        }
    )
    store = OrderStore.open(tmp_path / "order.db")
    stack.callback(store.close)
    inventory, payment = await jsonrpc.connect(settings, telemetry, stack)
    saga = Saga(store, Downstream(inventory, payment, FakeNotifier()), telemetry)
    return OrderHandlers(store, saga)


async def test_the_clients_reach_a_server_at_an_ipv6_address(tmp_path: Path) -> None:
    # An IPv6 literal must stand in brackets before ":port" in a ws:// URL (or it reads as more
    # address): ORDERFLOW_HOST=::1 must give ws://[::1]:port/ws.
    async with AsyncExitStack() as stack:
        payment_store = PaymentStore.open(tmp_path / "payment.db")
        stack.callback(payment_store.close)
        telemetry = Telemetry("payment")
        app = payment_app(
            create_handlers(payment_store, telemetry), telemetry, max_body_bytes=LIMIT
        )
        port = await stack.enter_async_context(served(app, host="::1"))
        settings = Settings.from_env(
            {"ORDERFLOW_HOST": "::1", "ORDERFLOW_PAYMENT_HTTP_PORT": str(port)}
        )
        _, payment = await jsonrpc.connect(settings, Telemetry("order"), stack)
        charged = await payment.charge("o-v6", "c1", 999, "tok_visa")
    assert charged.status is ChargeStatus.CHARGED


def place_params(items: dict[str, int], token: str = "tok_visa", **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": "c1",
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items.items()],
        "payment_token": token,
        **extra,
    }


def statuses(pushed: list[dict[str, Any]]) -> list[str]:
    assert all(p["method"] == "order.updated" and "id" not in p for p in pushed)
    return [p["params"]["status"] for p in pushed]


async def test_a_confirmed_order_is_pushed_then_answered(services: Services) -> None:
    async with services.rpc("order") as rpc:
        answer, pushed = await rpc.call("place_order", place_params({"KB-MECH": 2}))
    order = answer["result"]
    assert (order["status"], order["reason"], order["total_cents"]) == ("CONFIRMED", None, 17998)
    assert statuses(pushed) == ["PENDING", "RESERVED", "PAID", "CONFIRMED"]
    assert all(p["params"]["id"] == order["id"] for p in pushed)
    reservation = await services.inventory.get_reservation(order["id"])
    assert reservation.status == "RESERVED"


async def test_the_saga_calls_downstream_over_websocket(services: Services) -> None:
    async with services.rpc("order") as rpc:
        await rpc.call("place_order", place_params({"MOUSE-WL": 1}))
    counted = services.order_telemetry.downstream_calls
    assert counted.labels("inventory", "ws.reserve", "ok")._value.get() == 1
    assert counted.labels("payment", "ws.charge", "ok")._value.get() == 1


async def test_declined_and_out_of_stock_orders(services: Services) -> None:
    async with services.rpc("order") as rpc:
        declined, pushed = await rpc.call(
            "place_order", place_params({"HEADSET": 1}, token="tok_chargeDeclined")
        )
        sold_out, _ = await rpc.call("place_order", place_params({"MUG-RETIRED": 1}))
    assert (declined["result"]["status"], declined["result"]["reason"]) == (
        "CANCELLED",
        "PAYMENT_DECLINED",
    )
    assert statuses(pushed)[-1] == "CANCELLED"
    released = await services.inventory.get_reservation(declined["result"]["id"])
    assert released.status == "RELEASED"
    assert (sold_out["result"]["status"], sold_out["result"]["reason"]) == (
        "REJECTED",
        "OUT_OF_STOCK",
    )
    assert services.payment_store.payment(sold_out["result"]["id"]) is None


async def test_unknown_sku_is_an_error_carrying_the_rejected_order(services: Services) -> None:
    async with services.rpc("order") as rpc:
        answer, pushed = await rpc.call("place_order", place_params({"NO-SUCH": 1}))
    error = answer["error"]
    assert (error["code"], error["data"]["code"]) == (-32602, "UNKNOWN_SKU")
    assert (error["data"]["order"]["status"], error["data"]["order"]["reason"]) == (
        "REJECTED",
        "UNKNOWN_SKU",
    )
    assert statuses(pushed)[-1] == "REJECTED"


async def test_idempotency_key_replays_and_refuses_another_body(services: Services) -> None:
    async with services.rpc("order") as rpc:
        first, _ = await rpc.call("place_order", place_params({"KB-MECH": 1}, idempotency_key="k1"))
        again, pushed = await rpc.call(
            "place_order", place_params({"KB-MECH": 1}, idempotency_key="k1")
        )
        other, _ = await rpc.call("place_order", place_params({"KB-MECH": 3}, idempotency_key="k1"))
    assert again["result"] == first["result"]
    assert statuses(pushed) == ["CONFIRMED"]  # a replay pushes the state it finds
    assert (other["error"]["code"], other["error"]["data"]["code"]) == (
        -32002,
        "IDEMPOTENCY_MISMATCH",
    )
    assert other["error"]["data"]["order_id"] == first["result"]["id"]
    assert services.payment_store.summary()["CHARGED"] == 1


async def test_get_order(services: Services) -> None:
    async with services.rpc("order") as rpc:
        placed, _ = await rpc.call("place_order", place_params({"CABLE-USBC": 1}))
        read, _ = await rpc.call("get_order", {"id": placed["result"]["id"]})
        missing, _ = await rpc.call("get_order", {"id": "nope"})
    assert read["result"] == placed["result"]
    assert (missing["error"]["code"], missing["error"]["data"]["code"]) == (-32001, "NOT_FOUND")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"customer_id": "c1", "payment_token": "tok_visa"}, "items"),
        (place_params({"KB-MECH": 0}), "items[0].quantity"),  # the domain's limit
        (place_params({"KB-MECH": True}), "items[0].quantity"),  # true is not a number
        (place_params({"KB-MECH": 1}, token="tok_amex"), "payment_token"),
        (place_params({"KB-MECH": 1}, idempotency_key=7), "idempotency_key"),
        (place_params({"KB-MECH": 1}, idempotencyKey="k"), "idempotencyKey"),
        ([{"customer_id": "c1"}], "params"),
    ],
)
async def test_bad_params_are_refused_and_nothing_moves(
    services: Services, params: object, field: str
) -> None:
    stock = await services.inventory.stock()
    async with services.rpc("order") as rpc:
        answer, pushed = await rpc.call("place_order", params)
    error = answer["error"]
    assert (error["code"], error["data"]["code"], error["data"]["field"]) == (
        -32602,
        "INVALID_REQUEST",
        field,
    )
    assert pushed == []
    assert await services.inventory.stock() == stock
    assert services.payment_store.summary()["CHARGED"] == 0


async def test_protocol_errors_keep_the_connection(services: Services) -> None:
    async with services.rpc("order") as rpc:
        malformed = await rpc.raw("{not json")
        empty_batch = await rpc.raw("[]")
        unknown = await rpc.raw('{"jsonrpc": "2.0", "id": "u", "method": "nope"}')
        version = await rpc.raw('{"jsonrpc": "1.0", "id": 5, "method": "get_order"}')
        oversized = await rpc.raw(json.dumps({"jsonrpc": "2.0", "id": 6, "pad": "x" * LIMIT}))
        still, _ = await rpc.call("get_order", {"id": "nope"})
    assert (malformed["id"], malformed["error"]["code"]) == (None, -32700)
    assert (empty_batch["error"]["code"], empty_batch["error"]["data"]["code"]) == (
        -32600,
        "EMPTY_BATCH",
    )
    assert (unknown["id"], unknown["error"]["code"]) == ("u", -32601)
    assert (version["id"], version["error"]["code"]) == (5, -32600)
    assert oversized["error"]["data"] == {"code": "MESSAGE_TOO_LARGE", "limit_bytes": LIMIT}
    assert oversized["id"] == 6  # readable, so the client can tell which request it was
    assert still["error"]["code"] == -32001


async def test_a_message_over_the_hard_cap_closes_with_1009_and_the_service_serves_on(
    services: Services,
) -> None:
    async with services.rpc("order") as rpc:
        await rpc.socket.send("x" * (2 * LIMIT + 1))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(rpc.socket.recv(), 10)
        assert rpc.socket.close_code == 1009
    async with services.rpc("order") as rpc:
        assert (await rpc.call("get_order", {"id": "nope"}))[0]["error"]["code"] == -32001


async def test_a_notification_gets_no_answer(services: Services) -> None:
    async with services.rpc("order") as rpc:
        await rpc.socket.send('{"jsonrpc": "2.0", "method": "get_order", "params": {"id": "x"}}')
        await rpc.socket.send('{"jsonrpc": "2.0", "method": "no_such_method"}')
        answer, pushed = await rpc.call("get_order", {"id": "nope"})
    assert answer["id"] == 1 and pushed == []


async def test_inventory_methods(services: Services) -> None:
    async with services.rpc("inventory") as rpc:
        products, _ = await rpc.call("list_products")
        reserved, _ = await rpc.call(
            "reserve", {"order_id": "o1", "items": [{"sku": "KB-MECH", "quantity": 2}]}
        )
        short, _ = await rpc.call(
            "reserve", {"order_id": "o2", "items": [{"sku": "MUG-RETIRED", "quantity": 1}]}
        )
        unknown, _ = await rpc.call(
            "reserve", {"order_id": "o3", "items": [{"sku": "NOPE", "quantity": 1}]}
        )
        released, _ = await rpc.call("release", {"order_id": "o1"})
        product, _ = await rpc.call("get_product", {"sku": "KB-MECH"})
        missing, _ = await rpc.call("get_product", {"sku": "NOPE"})
    seeded = {p["sku"]: p["available"] for p in products["result"]}
    assert seeded["MUG-RETIRED"] == 0
    assert reserved["result"]["items"] == [
        {"sku": "KB-MECH", "quantity": 2, "unit_price_cents": 8999}
    ]
    assert (short["error"]["code"], short["error"]["data"]["code"]) == (-32003, "OUT_OF_STOCK")
    assert (unknown["error"]["code"], unknown["error"]["data"]["code"]) == (-32602, "UNKNOWN_SKU")
    assert released["result"]["status"] == "RELEASED"
    assert product["result"]["available"] == seeded["KB-MECH"]  # released: back to the seed
    assert missing["error"]["code"] == -32001


async def test_payment_methods(services: Services) -> None:
    charge = {"order_id": "o1", "customer_id": "c1", "amount_cents": 500}
    async with services.rpc("payment") as rpc:
        charged, _ = await rpc.call("charge", {**charge, "payment_token": "tok_visa"})
        refunded, _ = await rpc.call("refund", {"order_id": "o1"})
        voided, _ = await rpc.call("refund", {"order_id": "o2"})
        late, _ = await rpc.call(
            "charge", {**charge, "order_id": "o2", "payment_token": "tok_visa"}
        )
        read, _ = await rpc.call("get_payment", {"order_id": "o1"})
        wrong, _ = await rpc.call("charge", {**charge, "amount_cents": "5", "payment_token": "x"})
    assert charged["result"]["status"] == "CHARGED"
    assert refunded["result"]["status"] == "REFUNDED"
    assert voided["result"]["status"] == "VOIDED"
    assert (late["error"]["code"], late["error"]["data"]["code"]) == (-32002, "CHARGE_VOIDED")
    assert read["result"]["status"] == "REFUNDED"
    assert wrong["error"]["data"] == {
        "code": "INVALID_REQUEST",
        "field": "amount_cents",
    }
