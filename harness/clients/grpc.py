"""The gRPC client: place an order over HTTP/2 with the generated stubs, read back its answer,
and follow it on a WatchOrder stream until it ends. Blocking grpcio, which also runs under gevent
once `grpc.experimental.gevent.init_gevent()` has been called: the Locust user calls `outcome`
with its own stub."""

from __future__ import annotations

import grpc

from harness.clients.shapes import Placed, Request, grpc_outcome, grpc_place
from services._generated.orderflow.v1 import order_pb2, order_pb2_grpc

TIMEOUT_S = 30.0
TERMINAL = frozenset(
    {order_pb2.Order.CONFIRMED, order_pb2.Order.REJECTED, order_pb2.Order.CANCELLED}
)


def place(channel: grpc.Channel, request: Request) -> Placed:
    """PlaceOrder. An unknown SKU is refused with INVALID_ARGUMENT and the rejected order's id
    in the trailers: that order is read back, as the other styles answer with it."""
    stub = order_pb2_grpc.OrderServiceStub(channel)
    try:
        order = stub.PlaceOrder(grpc_place(request), timeout=TIMEOUT_S).order
    except grpc.RpcError as error:
        order_id = trailing(error).get("orderflow-order-id")
        if error.code() is not grpc.StatusCode.INVALID_ARGUMENT or order_id is None:
            raise
        order = stub.GetOrder(order_pb2.GetOrderRequest(id=order_id), timeout=TIMEOUT_S)
    return placed(order)


def placed(order: order_pb2.Order) -> Placed:
    total = order.total_cents if order.HasField("total_cents") else None
    return Placed(order.id, *grpc_outcome(order), total)


def trailing(error: grpc.RpcError) -> dict[str, str]:
    """The trailing metadata of a failed call, as a dict."""
    if not isinstance(error, grpc.Call):
        return {}
    return {key: str(value) for key, value in error.trailing_metadata() or ()}


def outcome(
    stub: order_pb2_grpc.OrderServiceStub, answered: order_pb2.Order, timeout_s: float = TIMEOUT_S
) -> order_pb2.Order:
    """The order in its final state: PlaceOrder's answer when that is final (the saga went all
    the way), otherwise the terminal update of a WatchOrder stream."""
    if answered.status in TERMINAL:
        return answered
    stream = stub.WatchOrder(order_pb2.WatchOrderRequest(id=answered.id), timeout=timeout_s)
    for order in stream:
        if order.status in TERMINAL:
            stream.cancel()
            return order
    raise RuntimeError(f"WatchOrder ended before order {answered.id} finished")


# A target in gRPC's name syntax that may name several servers: `ipv4:10.0.0.1:50050,10.0.0.2:
# 50050` (every replica), `dns:///order:50050` (every address of a name). gRPC's default policy,
# pick_first, would send every call on one connection to one of them.
BALANCED_SCHEMES = ("ipv4:", "ipv6:", "dns:")


def channel(target: str) -> grpc.Channel:
    """A channel to `target`: a `host:port` over one connection (to a server or a proxy), a
    target naming several servers balanced round robin over a connection to each."""
    balanced = target.startswith(BALANCED_SCHEMES)
    options = [("grpc.lb_policy_name", "round_robin")] if balanced else []
    return grpc.insecure_channel(target, options=options)
