"""Small helpers that talk to the running stack over gRPC, shared by the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from harness.clients import shapes
from harness.stack.supervisor import Stack, connect_host
from services._generated.orderflow.v1 import order_pb2

# The order state machine (docs/architecture.md §1), as the paths an order's statuses may follow.
PATHS = (
    ("PENDING", "RESERVED", "PAID", "CONFIRMED"),
    ("PENDING", "REJECTED"),
    ("PENDING", "RESERVED", "CANCELLED"),
)


@contextmanager
def channel(stack: Stack, service: str) -> Iterator[grpc.Channel]:
    target = f"{connect_host(stack.config.host)}:{stack.config.grpc_port(service)}"
    with grpc.insecure_channel(target) as opened:
        yield opened


def place_request(
    items: dict[str, int], token: str = "tok_visa", customer: str | None = None, key: str = ""
) -> order_pb2.PlaceOrderRequest:
    return shapes.grpc_place(shapes.order_request(items, token, customer, key))


def status(order: order_pb2.Order) -> tuple[str, str | None]:
    return shapes.grpc_outcome(order)


def follows_the_state_machine(statuses: list[str]) -> bool:
    """Whether the statuses appear in the order of one path of the state machine."""
    return any(_subsequence(statuses, path) for path in PATHS)


def _subsequence(seen: list[str], path: tuple[str, ...]) -> bool:
    remaining = iter(path)
    return all(status in remaining for status in seen)
