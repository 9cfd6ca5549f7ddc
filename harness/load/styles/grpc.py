"""gRPC: HTTP/2 with the generated stubs, one channel per user and service. grpcio runs under
gevent once `grpc.experimental.gevent.init_gevent()` has been called (locustfile.py does it
first). PlaceOrder answers once the saga has gone as far as it can: when that is a terminal
status, the answer is the completion; otherwise the completion comes on a WatchOrder stream
(harness/clients/grpc.py's `outcome`, the same for every gRPC client)."""

from __future__ import annotations

from typing import Any

from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness.clients.grpc import channel, outcome
from harness.clients.shapes import grpc_outcome, grpc_place
from harness.load import tracing as traced
from harness.load.base import StyleUser
from harness.load.mix import OrderPlan
from services._generated.orderflow.v1 import (
    inventory_pb2,
    inventory_pb2_grpc,
    order_pb2,
    order_pb2_grpc,
)

DEADLINE_S = 30.0


class GrpcUser(StyleUser):
    abstract = True
    style = "grpc"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # A target listing every replica (ipv4:a:p,b:p) is balanced by the client, round robin.
        self._order_channel = channel(self.targets.order_grpc)
        self._inventory_channel = channel(self.targets.inventory_grpc)
        self._orders = order_pb2_grpc.OrderServiceStub(self._order_channel)
        self._inventory = inventory_pb2_grpc.InventoryServiceStub(self._inventory_channel)
        self._health = health_pb2_grpc.HealthStub(self._order_channel)

    def on_stop(self) -> None:
        self._order_channel.close()
        self._inventory_channel.close()

    def browse_catalog(self) -> None:
        with self.reporter.measure("browse_catalog", self.started()) as measured:
            answer = self._inventory.ListProducts(
                inventory_pb2.ListProductsRequest(), timeout=DEADLINE_S
            )
            measured.length = answer.ByteSize()

    def place_order(self, plan: OrderPlan) -> str:
        started = self.started()
        with self.reporter.measure("place_order", started) as measured:
            answer = self._orders.PlaceOrder(
                grpc_place(plan.request), timeout=DEADLINE_S, metadata=traced.grpc_metadata()
            )
            measured.length = answer.ByteSize()
        with self.reporter.measure("order_completed", started, plan.accepted):
            plan.check(*grpc_outcome(outcome(self._orders, answer.order, DEADLINE_S)))
        return str(answer.order.id)

    def get_order(self, order_id: str) -> None:
        with self.reporter.measure("get_order", self.started()) as measured:
            answer = self._orders.GetOrder(
                order_pb2.GetOrderRequest(id=order_id), timeout=DEADLINE_S
            )
            measured.length = answer.ByteSize()

    def noop(self) -> None:
        with self.reporter.measure("noop", self.started()):
            self._health.Check(health_pb2.HealthCheckRequest(), timeout=DEADLINE_S)
