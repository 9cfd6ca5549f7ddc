"""HAProxy in front of the replicas: its configuration, and what it says about its servers.

The proxy listens on each service's canonical ports, the addresses clients and the other
services use, and balances round robin, as users deploy these styles:
- HTTP (REST, GraphQL, SSE, WebSocket upgrades) in `mode http`: each request balanced, a
  WebSocket at its upgrade and then pinned for the connection's life;
- gRPC in `mode http` over HTTP/2 on both sides (`proto h2`): each call balanced (L7);
- gRPC in `mode tcp` on an extra port per service (L4): one HTTP/2 connection, one replica,
  which is what a client behind an L4 balancer sees.

Every server is health-checked with `GET /health` on its replica's HTTP port (gRPC servers too:
the same process), and a stats page reports each one's state (`status`), read by `server_states`.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import httpx

from harness.stack.replicas import Layout, Replica

EXECUTABLE: Final = "haproxy"
STATS_PATH: Final = "/stats"
# Checks often enough that a replica started (or killed) shows within a second or so.
CHECK: Final = "check inter 1s fastinter 250ms downinter 500ms rise 1 fall 2"
UP: Final = "UP"


class ProxyMissing(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "several replicas need HAProxy in front of them, and `haproxy` is not on PATH:"
            " install Debian's package (`make system-packages`, or apt-get install haproxy)"
        )


def executable() -> str:
    found = shutil.which(EXECUTABLE) or next(
        (str(p) for p in (Path("/usr/sbin/haproxy"),) if p.exists()), None
    )
    if found is None:
        raise ProxyMissing
    return found


def command(config_path: Path) -> list[str]:
    """In the foreground (-db), so the supervisor owns the process and its output."""
    return [executable(), "-db", "-f", str(config_path)]


def configuration(
    layout: Layout,
    host: str,
    http_ports: Mapping[str, int],
    grpc_ports: Mapping[str, int],
) -> str:
    """The whole haproxy.cfg for `layout`, binding `host` on the canonical ports."""
    sections = [_GLOBAL, _stats(host, layout.stats_port)]
    for service, replicas in layout.replicas.items():
        sections.append(_http(service, host, http_ports[service], replicas))
        if service in layout.l4_ports:
            sections.append(_grpc_l7(service, host, grpc_ports[service], replicas))
            sections.append(_grpc_l4(service, host, layout.l4_ports[service], replicas))
    return "\n".join(sections)


_GLOBAL: Final = """\
global
    log stdout format raw local0 info
    # No maxconn: HAProxy derives it from the file-descriptor limit it is given.

defaults
    log global
    # Only what went wrong reaches the log: a line per request would cost more than the proxy.
    option dontlog-normal
    retries 2
    option redispatch
    timeout connect 2s
    # Long enough for idle keep-alive connections, gRPC streams and SSE between updates.
    timeout client 5m
    timeout server 5m
    # A WebSocket once upgraded (and a TCP-mode connection) lives as long as it is in use.
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s
"""


def _stats(host: str, port: int) -> str:
    return f"""\
frontend stats
    mode http
    bind {_bind(host, port)}
    stats enable
    stats uri {STATS_PATH}
    stats refresh 5s
"""


def _http(service: str, host: str, port: int, replicas: tuple[Replica, ...]) -> str:
    servers = "".join(f"    server {r.name} {_at(host, r.http_port)} {CHECK}\n" for r in replicas)
    return f"""\
frontend {service}_http
    mode http
    option httplog
    bind {_bind(host, port)}
    default_backend {service}_http

backend {service}_http
    mode http
    balance roundrobin
    option httpchk GET /health
{servers}"""


def _grpc_l7(service: str, host: str, port: int, replicas: tuple[Replica, ...]) -> str:
    # The check goes to the replica's HTTP port in HTTP/1.1: the same process as its gRPC server.
    servers = "".join(
        f"    server {r.name} {_at(host, r.grpc_port)} proto h2"
        f" {CHECK} port {r.http_port} check-proto h1\n"
        for r in replicas
    )
    return f"""\
frontend {service}_grpc
    mode http
    option httplog
    bind {_bind(host, port)} proto h2
    default_backend {service}_grpc

backend {service}_grpc
    mode http
    balance roundrobin
    option httpchk GET /health
{servers}"""


def _grpc_l4(service: str, host: str, port: int, replicas: tuple[Replica, ...]) -> str:
    servers = "".join(
        f"    server {r.name} {_at(host, r.grpc_port)} {CHECK} port {r.http_port}\n"
        for r in replicas
    )
    return f"""\
frontend {service}_grpc_l4
    mode tcp
    option tcplog
    bind {_bind(host, port)}
    default_backend {service}_grpc_l4

backend {service}_grpc_l4
    mode tcp
    balance roundrobin
    option httpchk GET /health
{servers}"""


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _at(host: str, port: int) -> str:
    reach = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return _bind(reach, port)


def server_states(client: httpx.Client, stats_url: str) -> dict[tuple[str, str], str]:
    """(backend, server) -> HAProxy's status of it (`UP`, `DOWN`, `UP 1/2`, ...)."""
    return {
        (row["pxname"], row["svname"]): row["status"]
        for row in _rows(client, stats_url)
        if row["svname"] not in ("FRONTEND", "BACKEND")
    }


def served(client: httpx.Client, stats_url: str) -> dict[tuple[str, str], int]:
    """(backend, server) -> what the proxy sent that server so far: HTTP requests (gRPC calls
    included) in `mode http`, connections in `mode tcp`."""
    return {
        (row["pxname"], row["svname"]): int(row["req_tot"] or row["stot"] or 0)
        for row in _rows(client, stats_url)
        if row["svname"] not in ("FRONTEND", "BACKEND")
    }


def _rows(client: httpx.Client, stats_url: str) -> list[dict[str, str]]:
    answer = client.get(f"{stats_url};csv")
    answer.raise_for_status()
    return list(csv.DictReader(io.StringIO(answer.text.removeprefix("# "))))
