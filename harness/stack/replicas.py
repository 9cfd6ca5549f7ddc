"""Where each replica of a service listens when the stack runs several (`--replicas N`).

With one replica a service binds its canonical ports, as always. With more, each replica binds
ports of its own and the proxy (harness/stack/proxy.py) takes the canonical ones, so clients and
the other services keep the addresses they know and the proxy spreads their requests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from harness.stack.ports import PortClaim, free_ports

# Notification has no gRPC service: nothing to balance on its gRPC port.
GRPC_SERVICES: Final = ("order", "inventory", "payment")
# How the order service's gRPC calls reach the replicas of inventory and payment.
PROXY_L7: Final = "proxy-l7"  # HAProxy in `mode http` over HTTP/2: each call balanced
PROXY_L4: Final = "proxy-l4"  # HAProxy in `mode tcp`: one HTTP/2 connection, one replica
CLIENT: Final = "client"  # gRPC's own round_robin over every replica's address
GRPC_BALANCING: Final = (PROXY_L7, PROXY_L4, CLIENT)


class ReplicasNeedPostgres(ValueError):
    """Several replicas of a service on SQLite would each keep a file of its own."""

    def __init__(self) -> None:
        super().__init__(
            "several replicas need the PostgreSQL store (--store postgres): on SQLite each"
            " replica would keep a database file of its own, and they would not share orders,"
            " stock or payments"
        )


@dataclass(frozen=True)
class Replica:
    service: str
    name: str  # `<service>-<i>` (from 1) with several, the service's name with one
    http_port: int
    grpc_port: int
    control_port: int | None  # None: the service's own default (one replica, no proxy)

    @property
    def replica_id(self) -> str:
        """ORDERFLOW_REPLICA_ID: always `<service>-<i>`, also for a single replica."""
        return self.name if self.name != self.service else f"{self.service}-1"


@dataclass(frozen=True)
class Layout:
    """Every replica's ports, and the proxy's own ports besides the canonical ones."""

    replicas: Mapping[str, tuple[Replica, ...]]
    l4_ports: Mapping[str, int]  # a `mode tcp` gRPC frontend per gRPC service
    stats_port: int  # HAProxy's stats page (CSV at /stats;csv)

    def port_claims(self) -> list[PortClaim]:
        claims = [
            PortClaim(replica.name, kind, port)
            for group in self.replicas.values()
            for replica in group
            for kind, port in (
                ("http", replica.http_port),
                ("grpc", replica.grpc_port),
                ("control", replica.control_port or 0),
            )
            if port
        ]
        claims += [PortClaim(s, "grpc_l4", port) for s, port in self.l4_ports.items()]
        return [*claims, PortClaim("proxy", "stats", self.stats_port)]


def single(services: Collection[str], http: Mapping[str, int], grpc: Mapping[str, int]) -> Layout:
    """One replica per service, on the service's own ports, and no proxy."""
    replicas = {s: (Replica(s, s, http[s], grpc[s], None),) for s in services}
    return Layout(replicas, {}, 0)


def spread(services: Collection[str], count: int, host: str, exclude: Collection[int]) -> Layout:
    """`count` replicas per service, each on free ports, plus the proxy's extra ports."""
    grpc_services = [s for s in services if s in GRPC_SERVICES]
    ports = iter(
        free_ports(3 * count * len(services) + len(grpc_services) + 1, host, exclude=exclude)
    )
    replicas = {
        s: tuple(
            Replica(s, f"{s}-{i}", next(ports), next(ports), next(ports))
            for i in range(1, count + 1)
        )
        for s in services
    }
    return Layout(replicas, {s: next(ports) for s in grpc_services}, next(ports))
