"""CPU-milliseconds per completed order, per process and in total, and the bound an order's
path puts on it: the arithmetic behind the bench's CPU figures (docs/bench.md, "CPU per order
and the bound").

The bound is what an order would cost if each of its hops cost what the style's no-op costs
(server and client side, measured in the same run's calibration) and each of its store
transactions cost what a bare SQLite write transaction costs here. An order's real cost is
higher (a saga, validation, logging); bound ÷ real is the share of the machine's possible that
the style reaches, on a machine where every process is CPU-bound."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

LOAD_GENERATOR: Final = "locust"
RABBITMQ: Final = "rabbitmq"
# The mix is browse 4 : place 4 : look up 2, so each order comes with one browse and half a
# look-up: 2.5 client calls per order.
MIX_CALLS_PER_ORDER: Final = 2.5
TRANSACTIONS_SAMPLED: Final = 300


@dataclass(frozen=True)
class OrderPath:
    """What one completed order takes in a style, in the mix (docs/bench.md lists why)."""

    hops: float  # calls or deliveries, each counted at the style's no-op cost
    transactions: int  # committed SQLite write transactions, across the services


# Orchestrated: the mix's 2.5 client calls, then reserve, charge and notify (3 calls);
# order commits 4 (place, reserve, charge with its confirmation, the notification's
# acknowledgement: at most one, a round's acknowledgements share one), inventory, payment and
# notification 1 each.
_ORCHESTRATED: Final = OrderPath(hops=MIX_CALLS_PER_ORDER + 3, transactions=7)
PATHS: Final[Mapping[str, OrderPath]] = {
    "rest": _ORCHESTRATED,
    "grpc": _ORCHESTRATED,
    "graphql": _ORCHESTRATED,
    "websocket": _ORCHESTRATED,
    # Browse and look-up (1.5 calls) plus the choreography's 7 deliveries, the client's
    # order.place and its terminal event among them; 6 handling transactions (order 3,
    # inventory, payment, notification 1 each) and one outbox relay commit per event a
    # service publishes (order.placed, inventory.reserved, payment.charged, order.confirmed).
    "broker": OrderPath(hops=MIX_CALLS_PER_ORDER - 1 + 7, transactions=6 + 4),
}


def _ms(seconds: float, count: int) -> float:
    return round(seconds * 1000 / count, 3)


def per_order(spent: Mapping[str, float | None], orders: int) -> dict[str, Any]:
    """CPU-ms per completed order of each process (None: not attributed), and their total.

    The total is the sum of the processes measured: it leaves out what could not be
    attributed (a shared RabbitMQ, a stack the bench did not start), as `not_attributed` says.
    """
    processes = {
        name: None if s is None or not orders else _ms(s, orders) for name, s in spent.items()
    }
    known = [ms for ms in processes.values() if ms is not None]
    return {
        "orders": orders,
        "processes": processes,
        "total_ms": round(sum(known), 3) if known else None,
    }


def noop_cost(spent: Mapping[str, float | None], noops: int) -> dict[str, float | None]:
    """CPU-ms per no-op: server side (every service measured), client side (the generator)."""
    server = [s for name, s in spent.items() if name != LOAD_GENERATOR and s is not None]
    client = spent.get(LOAD_GENERATOR)
    measured = noops > 0 and len(server) == len(spent) - 1
    return {
        "server_ms": _ms(sum(server), noops) if measured else None,
        "client_ms": _ms(client, noops) if noops > 0 and client is not None else None,
    }


def bound(
    style: str, noop: Mapping[str, float | None], transaction_ms: float
) -> dict[str, Any] | None:
    """The CPU-ms an order would cost at the no-op's price per hop; None without a no-op cost."""
    server, client = noop.get("server_ms"), noop.get("client_ms")
    if server is None or client is None:
        return None
    path = PATHS[style]
    cpu_ms = path.hops * (server + client) + path.transactions * transaction_ms
    return {
        "hops": path.hops,
        "noop_ms": round(server + client, 3),
        "transactions": path.transactions,
        "transaction_ms": round(transaction_ms, 4),
        "cpu_ms_per_order": round(cpu_ms, 3),
    }


def fraction_of_bound(bound_ms: float | None, total_ms: float | None) -> float | None:
    """bound ÷ measured CPU per order: 1 would be an order costing no more than its hops."""
    if bound_ms is None or not total_ms:
        return None
    return round(bound_ms / total_ms, 4)


def transaction_ms(folder: Path, count: int = TRANSACTIONS_SAMPLED) -> float:
    """CPU-ms of one small write transaction in SQLite as the services open it (WAL,
    synchronous=NORMAL; services/kernel/sqlite.py), measured here and now."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "transaction-cost.db"
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        started = time.process_time()
        for i in range(count):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO t (id, body) VALUES (?, ?)", (i, "x" * 200))
            connection.execute("COMMIT")
        return (time.process_time() - started) * 1000 / count
    finally:
        connection.close()
        for leftover in folder.glob("transaction-cost.db*"):
            leftover.unlink(missing_ok=True)


def cpu_section(
    style: str,
    spent: Mapping[str, float | None],
    orders: int,
    noop: Mapping[str, float | None] | None,
    transaction_cost_ms: float,
    not_attributed: Mapping[str, str],
) -> dict[str, Any]:
    """The style's `cpu` in results.json: per order, what it leaves out, the bound, the share."""
    section = per_order(spent, orders)
    found = None if noop is None else bound(style, noop, transaction_cost_ms)
    section["not_attributed"] = dict(not_attributed)
    section["bound"] = found
    section["bound_fraction"] = fraction_of_bound(
        None if found is None else found["cpu_ms_per_order"], section["total_ms"]
    )
    return section
