"""`orderflow up`: the whole stack as local processes, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Final

from harness.cli.options import add_data_dir, add_replicas, add_timeout
from harness.stack import postgres
from harness.stack.ports import PortInUse
from harness.stack.process import describe_exit
from harness.stack.proxy import ProxyMissing
from harness.stack.replicas import GRPC_SERVICES as GRPC_SERVICES  # where it was, for others
from harness.stack.replicas import PROXY_L7, ReplicasNeedPostgres
from harness.stack.signals import Interrupted, signals_raise_once
from harness.stack.supervisor import PROXY, START_ORDER, Stack, StackConfig, StartupFailed
from services.kernel.config import SERVICES, ConfigError, Settings

WATCH_POLL_S: Final = 0.2
GUEST: Final = "guest"
STORES: Final = ("sqlite", "postgres")
GUEST_WARNING: Final = (
    "orderflow up: warning: the services connect to the broker as guest, RabbitMQ's development"
    " default, so anyone who can reach it may publish any event. On a broker provisioned with"
    " harness/rabbit/definitions.json (orderflow broker, compose), give ORDERFLOW_BROKER_URL"
    " without a user: each service then connects as its own."
)
READY_LINE: Final = "orderflow up: ready; press Ctrl-C (or send SIGTERM) to stop everything"

HELP = "start the whole stack locally and run it until Ctrl-C"
DESCRIPTION = """\
Starts the services (inventory, payment, notification, then order) as child processes, waits
until each answers GET /ready, prints where everything is, and runs until SIGINT or SIGTERM;
then it stops them all, in reverse order, and exits 0.

Ports and the data directory come from the environment, as the services read them:
ORDERFLOW_HOST, ORDERFLOW_DATA_DIR and ORDERFLOW_<SERVICE>_HTTP_PORT / _GRPC_PORT
(e.g. ORDERFLOW_ORDER_HTTP_PORT=9000). Each service logs to DATA_DIR/logs/<service>.log.

The broker is ORDERFLOW_BROKER_URL (default: the local one as guest, with a warning). A URL
without a user (as `orderflow broker` prints) has each service connect as its own user from
harness/rabbit/definitions.json; ORDERFLOW_BROKER_USER / _PASSWORD make every service one user.

--store postgres gives each service a database of its own on PostgreSQL instead of its SQLite
file: orderflow_<digest of DATA_DIR>_<service>, created on the server that
ORDERFLOW_POSTGRES_ADMIN_URL names (default postgresql://postgres@127.0.0.1:5432/postgres),
kept between runs like the files, dropped by --reset. No other database is touched.

--replicas N (with --store postgres) runs N processes of each service, every replica of a
service on that service's database, each on free ports of its own with its own log
(DATA_DIR/logs/<service>-<i>.log) and ORDERFLOW_REPLICA_ID=<service>-<i>. HAProxy (Debian's
haproxy package; `make system-packages` installs it) takes the services' own ports and balances
round robin: HTTP (REST, GraphQL, SSE, WebSocket upgrades) in mode http, gRPC in mode http over
HTTP/2 (each call balanced), and gRPC in mode tcp on an extra port per service (one connection
pinned to one replica). Its configuration is DATA_DIR/haproxy.cfg, its log
DATA_DIR/logs/proxy.log, its stats page printed below. --grpc-balancing says how the order
service's own gRPC calls reach the others' replicas (through the proxy's mode http or mode tcp
frontend, or by gRPC's round_robin over every replica: ORDERFLOW_<SERVICE>_GRPC_TARGET).

Exit codes: 0 stopped on request, 1 a service (a replica, the proxy) failed to start or
crashed, 2 a port is taken, the configuration is invalid or HAProxy is missing."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete the services' databases first (the catalog is seeded afresh)",
    )
    add_data_dir(parser, "databases and logs (default: $ORDERFLOW_DATA_DIR, else .orderflow)")
    parser.add_argument(
        "--only",
        action="append",
        choices=SERVICES,
        metavar="SERVICE",
        help="start only this service; repeat for several (dependencies are not added)",
    )
    parser.add_argument(
        "--store",
        choices=STORES,
        default="sqlite",
        help="where the services keep their data (default: %(default)s; see above)",
    )
    add_replicas(parser)
    add_timeout(parser, "every service to be ready")


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
        config = stack_config(
            settings,
            args.data_dir,
            args.only,
            store=args.store,
            replicas=args.replicas,
            grpc_balancing=args.grpc_balancing,
        )
    except ReplicasNeedPostgres as error:
        return _fail(str(error), code=2)
    except ConfigError as error:
        return _fail(f"configuration error: {error}", code=2)
    stack = Stack(config)
    with signals_raise_once():
        try:
            return _up(stack, settings.broker_user, reset=args.reset, timeout_s=args.timeout)
        except Interrupted as stopped:
            print(f"orderflow up: {signal.Signals(stopped.signum).name}, stopping", flush=True)
            return 0
        finally:
            stack.stop()
            print("orderflow up: stopped", flush=True)


def _say_broker_identity(user: str | None) -> None:
    if user is None:
        print(
            "orderflow up: each service connects to the broker as its own user "
            "(harness/rabbit/definitions.json)",
            flush=True,
        )
    elif user == GUEST:
        print(GUEST_WARNING, file=sys.stderr, flush=True)
    else:
        print(f"orderflow up: every service connects to the broker as {user!r}", flush=True)


def _say_store(config: StackConfig) -> None:
    if config.postgres_admin_url is not None:
        names = ", ".join(config.database_name(s) for s in config.services)
        print(f"orderflow up: each service on its own PostgreSQL database: {names}", flush=True)


def stack_config(
    settings: Settings,
    data_dir: Path | None,
    only: list[str] | None,
    *,
    store: str = "sqlite",
    replicas: int = 1,
    grpc_balancing: str = PROXY_L7,
) -> StackConfig:
    services = tuple(s for s in START_ORDER if s in only) if only else START_ORDER
    admin_url = os.environ.get("ORDERFLOW_POSTGRES_ADMIN_URL", postgres.DEFAULT_ADMIN_URL)
    return StackConfig(
        postgres_admin_url=admin_url if store == "postgres" else None,
        data_dir=settings.data_dir if data_dir is None else data_dir,
        host=settings.host,
        http_ports={s: settings.address(s).http_port for s in SERVICES},
        grpc_ports={s: settings.address(s).grpc_port for s in SERVICES},
        services=services,
        replicas=replicas,
        grpc_balancing=grpc_balancing,
    )


def _up(stack: Stack, broker_user: str | None, *, reset: bool, timeout_s: float) -> int:
    config = stack.config
    names = ", ".join(config.services)
    print(f"orderflow up: starting {names} (logs in {config.data_dir / 'logs'})", flush=True)
    try:
        stack.start(reset=reset, timeout_s=timeout_s)
    except (PortInUse, postgres.PostgresUnavailable, ProxyMissing) as error:
        return _fail(str(error), code=2)
    except StartupFailed as error:
        return _fail(str(error), code=1)
    _say_broker_identity(broker_user)
    _say_store(config)
    print(format_table(stack), READY_LINE, sep="\n\n", flush=True)
    service, code = _wait_for_crash(stack)
    tail = stack.log_tail(service)
    return _fail(
        f"{service} {describe_exit(code)}; stopping everything. "
        f"Last lines of {stack.log_path(service)}:\n{tail}",
        code=1,
    )


def _wait_for_crash(stack: Stack) -> tuple[str, int]:
    while True:
        exits = stack.unexpected_exits()
        if exits:
            return next(iter(exits.items()))
        time.sleep(WATCH_POLL_S)


def format_table(stack: Stack) -> str:
    """Narrow enough for a projector: one line per service (and per replica, with several),
    the common paths said once."""
    header = ("service", "pid", "http", "grpc", "log")
    rows = [header, *(row for service in stack.config.services for row in _rows(stack, service))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    first = stack.url(stack.config.services[-1])
    paths = (
        f"\nEvery service answers /docs (OpenAPI), /health, /ready and /metrics, e.g. {first}/docs"
        "\nThe styles: REST, GraphQL (/graphql), JSON-RPC over WebSocket (/ws) on the http port;"
        "\ngRPC on the grpc port (reflection on); the broker style over ORDERFLOW_BROKER_URL."
    )
    table = "\n".join(line.rstrip() for line in lines) + paths
    return table + _proxy_lines(stack) if stack.config.proxied else table


def _rows(stack: Stack, service: str) -> list[tuple[str, ...]]:
    if not stack.config.proxied:
        grpc = str(stack.config.grpc_port(service)) if service in GRPC_SERVICES else "-"
        log = str(stack.log_path(service))
        return [(service, str(stack.pid(service)), stack.url(service), grpc, log)]
    # The service's own ports are the proxy's; each replica is listed under it.
    grpc = str(stack.config.grpc_port(service)) if service in GRPC_SERVICES else "-"
    rows: list[tuple[str, ...]] = [(service, "proxy", stack.url(service), grpc, "")]
    for name, url, address in zip(
        stack.replicas(service),
        stack.replica_urls(service),
        stack.replica_grpc_addresses(service),
        strict=True,
    ):
        port = address.rpartition(":")[2] if service in GRPC_SERVICES else "-"
        rows.append((f"  {name}", str(stack.pid(name)), url, port, str(stack.log_path(name))))
    return rows


def _proxy_lines(stack: Stack) -> str:
    l4 = ", ".join(
        f"{service} {address}"
        for service in stack.config.services
        if (address := stack.grpc_l4_address(service)) is not None
    )
    config = stack.config
    return (
        f"\n\nHAProxy (pid {stack.pid(PROXY)}) balances round robin on every service's ports;"
        f" stats {stack.proxy_stats_url()}"
        f"\n  config {config.proxy_config_path()}, log {stack.log_path(PROXY)}"
        f"\n  gRPC through its TCP (L4) frontends, one connection to one replica: {l4 or '-'}"
        f"\n  the order service's gRPC calls: {config.grpc_balancing}"
    )


def _fail(message: str, *, code: int) -> int:
    print(f"orderflow up: {message}", file=sys.stderr, flush=True)
    return code
