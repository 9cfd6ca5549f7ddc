"""Port checks made before any child starts: a clash is reported by name, not by a crash."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from services.kernel.config import port_variable

# Below Linux's default ephemeral range (32768-60999); the private broker draws from 10000-22749.
FREE_PORT_RANGE = range(23_000, 32_000)


@dataclass(frozen=True)
class PortClaim:
    """One port a service of the stack will bind."""

    service: str
    kind: str  # "http" or "grpc"
    port: int

    @property
    def variable(self) -> str:
        return port_variable(self.service, self.kind)

    def describe(self) -> str:
        return f"{self.service} {self.kind.upper()} port {self.port}"


class PortInUse(RuntimeError):
    """A port the stack needs is taken; the message names the service, the port and the variable."""

    def __init__(self, claim: PortClaim, host: str, reason: str) -> None:
        self.service = claim.service
        self.kind = claim.kind
        self.port = claim.port
        self.variable = claim.variable
        super().__init__(
            f"{claim.describe()} on {host} {reason}; "
            f"set {claim.variable} to a free port to use another one"
        )


def is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The servers set SO_REUSEADDR too: a port left in TIME_WAIT by a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(host: str, claims: Iterable[PortClaim]) -> None:
    """Raises PortInUse for the first claim that is taken or claimed twice by the stack itself."""
    seen: dict[int, PortClaim] = {}
    for claim in claims:
        other = seen.setdefault(claim.port, claim)
        if other is not claim:
            raise PortInUse(claim, host, f"is also configured as the {other.describe()}")
        if not is_free(host, claim.port):
            raise PortInUse(claim, host, "is already in use")


def free_ports(
    count: int,
    host: str = "127.0.0.1",
    within: range = FREE_PORT_RANGE,
    exclude: Iterable[int] = (),
) -> list[int]:
    """`count` distinct ports free now, drawn at random below the kernel's ephemeral range.

    A port the kernel hands out for port 0 comes from the ephemeral range, the same range from
    which every outgoing connection takes its source port: between this check and the server's
    bind, a client connection (of this run or another) may take it. Ports below that range are
    only ever taken on purpose."""
    chosen: list[int] = []
    taken = set(exclude)
    for _ in range(100 * count):
        port = random.choice(within)
        if port not in chosen and port not in taken and is_free(host, port):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(f"found no {count} free ports in {within} on {host}")
