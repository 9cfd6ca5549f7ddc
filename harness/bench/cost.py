"""CPU-milliseconds per completed order, per process and in total, and the bound an order's
path puts on it: the arithmetic behind the bench's CPU figures (docs/bench.md, "CPU per order
and the bound").

The bound is what an order would cost if everything it sends cost what a no-op costs on the
transport it goes by (server and client side, measured in the same run's calibrations) and each
of its store transactions cost what a bare write transaction costs on the run's store
(harness/bench/transactions.py). An order's real cost is higher (a saga, validation, logging);
bound ÷ real is the share of the machine's possible that the style reaches, on a machine where
every process is CPU-bound."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from harness.load.mix import DECLINED_SHARE, OUT_OF_STOCK_SHARE
from harness.vocabulary import style_of
from services.kernel import styles

LOAD_GENERATOR: Final = "locust"
RABBITMQ: Final = "rabbitmq"
# The mix is browse 4 : place 4 : look up 2, so each order comes with one browse and half a
# look-up: 2.5 client calls per order, the place among them.
MIX_CALLS_PER_ORDER: Final = 2.5
READS_PER_ORDER: Final = MIX_CALLS_PER_ORDER - 1


@dataclass(frozen=True)
class Hops:
    """What an order sends over one transport, in the units that transport's no-op prices.

    A no-op is a call and its answer, each end's work counted (server and client side)."""

    calls: float = 0.0  # a request and its answer: one no-op
    # One message one way, read by the other end: a push on an open socket or stream, or a
    # broker publish or delivery (the broker's no-op is one publish and its one delivery back).
    messages: float = 0.0
    # An event written on a response the client reads whole when it ends (Server-Sent Events
    # as the load generator reads them): half the no-op's server side, no client side.
    stream_events: float = 0.0

    def __add__(self, other: Hops) -> Hops:
        return Hops(
            self.calls + other.calls,
            self.messages + other.messages,
            self.stream_events + other.stream_events,
        )

    def scaled(self, share: float) -> Hops:
        return Hops(self.calls * share, self.messages * share, self.stream_events * share)

    def count(self) -> float:
        """Everything sent: calls, messages and stream events (priced differently)."""
        return self.calls + self.messages + self.stream_events

    def cpu_ms(self, server_ms: float, client_ms: float) -> float:
        both = server_ms + client_ms
        return self.calls * both + self.messages * both / 2 + self.stream_events * server_ms / 2


@dataclass(frozen=True)
class OrderPath:
    """What one completed order takes in a style, in the mix: what it sends over each transport
    (named by the style whose no-op prices it) and its committed store write transactions across
    the services (docs/bench.md lists why)."""

    hops: Mapping[str, Hops] = field(default_factory=dict)
    transactions: float = 0.0


def mixed(outcomes: Iterable[tuple[float, OrderPath]]) -> OrderPath:
    """The path of an average order: each outcome's path weighted by its share of the mix."""
    hops: dict[str, Hops] = {}
    transactions = 0.0
    for share, path in outcomes:
        for transport, sent in path.hops.items():
            hops[transport] = hops.get(transport, Hops()) + sent.scaled(share)
        transactions += path.transactions * share
    return OrderPath(hops, transactions)


CONFIRMED_SHARE: Final = 1 - DECLINED_SHARE - OUT_OF_STOCK_SHARE


def _by_outcome(confirmed: OrderPath, declined: OrderPath, sold_out: OrderPath) -> OrderPath:
    return mixed(
        [
            (CONFIRMED_SHARE, confirmed),
            (DECLINED_SHARE, declined),
            (OUT_OF_STOCK_SHARE, sold_out),
        ]
    )


def _orchestrated(
    style: str, place: Hops, saga_calls: int, statuses: int, transactions: int
) -> OrderPath:
    """An orchestrated order: the client's browse and half a look-up in the style, its place,
    the saga's calls in the style, and the notification, which goes over REST in every style
    (services/order/downstream/notification.py); a WebSocket client is pushed each status."""
    client = Hops(calls=READS_PER_ORDER) + place
    if style == styles.WEBSOCKET:  # order.updated, one per status reached (ws.py)
        client = client + Hops(messages=statuses)
    hops = {style: client + Hops(calls=saga_calls)}
    hops[styles.REST] = hops.get(styles.REST, Hops()) + Hops(calls=1)
    return OrderPath(hops, transactions)


def _orchestrated_path(style: str, place: Hops | None = None, sse: bool = False) -> OrderPath:
    """Confirmed: reserve and charge; order commits place, reserve, the charge with its
    confirmation and the notification's acknowledgement (at most one: a round's share one),
    inventory, payment and notification one each (7). Declined: reserve, charge, release;
    order 4 and the acknowledgement, inventory 2, payment and notification 1 (9). Sold out:
    a refused reservation; order 2 and the acknowledgement, inventory (its refused
    reservation's transaction) and notification 1 (5). Statuses: PENDING, RESERVED, PAID,
    CONFIRMED; PENDING, RESERVED, CANCELLED; PENDING, REJECTED."""
    place = place or Hops(calls=1)

    def path(saga_calls: int, statuses: int, transactions: int) -> OrderPath:
        found = _orchestrated(style, place, saga_calls, statuses, transactions)
        if not sse:
            return found
        streamed = Hops(stream_events=statuses)  # the status stream, one event per status
        return OrderPath({**found.hops, style: found.hops[style] + streamed}, transactions)

    return _by_outcome(path(2, 4, 7), path(3, 3, 9), path(1, 2, 5))


def _choreographed_path(front: bool) -> OrderPath:
    """The choreography: every event is one publish and one delivery per subscriber, each half
    the broker's no-op (RabbitMQ's own CPU is in neither: docs/bench.md); handling transactions
    plus one outbox relay commit per event published.

    Confirmed: order.placed (to inventory), inventory.reserved (order, payment), payment.charged
    (order), order.confirmed (notification): 4 publishes, 5 deliveries; 6 handling transactions
    (order 3, inventory, payment, notification) and 4 relay commits. Declined: order.placed,
    inventory.reserved (order, payment), payment.declined (inventory), inventory.released
    (order), order.cancelled (notification): 5 and 6; 7 handling (order 3, inventory 2, payment,
    notification) and 5 relay commits. Sold out: order.placed, inventory.rejected (order),
    order.rejected (notification): 3 and 3; 4 handling and 3 relay commits.

    Through the front (the style `broker`), the client places with one HTTP call and reads the
    order's status stream with another, one event per status (4, 3, 2). With AMQP
    (`broker-amqp`) it publishes order.place itself (a publish, a delivery to order) and its
    listener is delivered the terminal event too."""

    def path(publishes: int, deliveries: int, transactions: int, statuses: int) -> OrderPath:
        reads = Hops(calls=READS_PER_ORDER)
        if front:
            http = reads + Hops(calls=2, stream_events=statuses)
            sent = Hops(messages=publishes + deliveries)
        else:
            http = reads
            sent = Hops(messages=publishes + deliveries + 3)
        return OrderPath({styles.REST: http, styles.BROKER: sent}, transactions)

    return _by_outcome(path(4, 5, 10, 4), path(5, 6, 12, 3), path(3, 3, 7, 2))


PATHS: Final[Mapping[str, OrderPath]] = {
    **{style: _orchestrated_path(style) for style in styles.ORCHESTRATED},
    # REST's saga answered 202: the place and its status stream are two calls.
    "rest-sse": _orchestrated_path(styles.REST, Hops(calls=2), sse=True),
    styles.BROKER: _choreographed_path(front=True),
    "broker-amqp": _choreographed_path(front=False),
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


Price = Mapping[str, float | None]  # a no-op's CPU-ms: server_ms and client_ms


def bound(style: str, prices: Mapping[str, Price], transaction_ms: float) -> dict[str, Any] | None:
    """The CPU-ms an order would cost at its transports' no-op prices; None without the style's
    own no-op cost.

    `prices` holds the no-op of each transport calibrated in the run, by style name (a variant
    prices its style's transport). A transport this run did not calibrate (REST's notification
    hop in `--styles websocket`) is priced at the style's own no-op instead, and `stand_ins` says
    so."""
    own = _priced(prices.get(style_of(style)))
    if own is None:
        return None
    path = PATHS[style]
    transports: dict[str, Any] = {}
    cpu_ms = path.transactions * transaction_ms
    for transport, sent in path.hops.items():
        price = _priced(prices.get(transport))
        priced_by = transport if price is not None else style_of(style)
        server, client = price or own
        cpu_ms += sent.cpu_ms(server, client)
        transports[transport] = {
            "calls": round(sent.calls, 3),
            "messages": round(sent.messages, 3),
            "stream_events": round(sent.stream_events, 3),
            "noop_ms": round(server + client, 3),
            "priced_by": priced_by,
        }
    return {
        "hops": round(sum(sent.count() for sent in path.hops.values()), 3),
        "noop_ms": round(sum(own), 3),
        "transactions": round(path.transactions, 3),
        "transaction_ms": round(transaction_ms, 4),
        "cpu_ms_per_order": round(cpu_ms, 3),
        "transports": transports,
        "stand_ins": sorted(name for name, part in transports.items() if part["priced_by"] != name),
    }


def mean_price(before: Price, after: Price | None) -> Price:
    """The no-op's price over a style's run: the mean of its price before the load and after
    it, side by side (the load sits between the two). A side measured only before keeps that
    price; without an `after`, the price before."""
    if after is None:
        return before
    return {side: _mean(before.get(side), after.get(side)) for side in ("server_ms", "client_ms")}


def _mean(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return before
    return round((before + after) / 2, 4)


def price_drift(before: Price | None, after: Price | None) -> float | None:
    """How much the no-op's whole price (server and client) moved from before the load to
    after it, as a fraction of the price before: +0.1 is 10% dearer after."""
    first, then = _priced(before), _priced(after)
    if first is None or then is None or sum(first) <= 0:
        return None
    return sum(then) / sum(first) - 1


def _priced(price: Price | None) -> tuple[float, float] | None:
    if price is None:
        return None
    server, client = price.get("server_ms"), price.get("client_ms")
    return None if server is None or client is None else (server, client)


def fraction_of_bound(bound_ms: float | None, total_ms: float | None) -> float | None:
    """bound ÷ measured CPU per order: 1 would be an order costing no more than its hops."""
    if bound_ms is None or not total_ms:
        return None
    return round(bound_ms / total_ms, 4)


def cpu_section(
    style: str,
    spent: Mapping[str, float | None],
    orders: int,
    noop: Mapping[str, float | None] | None,
    transaction_cost_ms: float,
    not_attributed: Mapping[str, str],
    prices: Mapping[str, Price] | None = None,
) -> dict[str, Any]:
    """The style's `cpu` in results.json: per order, what it leaves out, the bound, the share.

    `noop` is this style's own no-op; `prices` the other transports' (see `bound`)."""
    section = per_order(spent, orders)
    section["not_attributed"] = dict(not_attributed)
    _set_bound(section, style, noop, prices or {}, transaction_cost_ms)
    return section


def _set_bound(
    section: dict[str, Any],
    style: str,
    noop: Mapping[str, float | None] | None,
    prices: Mapping[str, Price],
    transaction_cost_ms: float,
) -> None:
    own = {} if noop is None else {style_of(style): noop}
    found = bound(style, {**prices, **own}, transaction_cost_ms)
    section["bound"] = found
    section["bound_fraction"] = fraction_of_bound(
        None if found is None else found["cpu_ms_per_order"], section["total_ms"]
    )


def noop_prices(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Price]:
    """Each transport's no-op as the run's calibrations measured it, by style: the style's own
    calibration, or else a variant's (whose no-op is its style's)."""
    prices: dict[str, Price] = {}
    for name in sorted(results, key=lambda name: style_of(name) != name):  # styles first
        calibration = results[name].get("calibration") or {}
        price: Price | None = calibration.get("cpu_ms_per_call")
        if price is not None and _priced(price) is not None:
            prices.setdefault(style_of(name), price)
    return prices


def reprice(results: Mapping[str, dict[str, Any]], transaction_cost_ms: float) -> None:
    """Bound every style of a finished run again, now that every style's no-op is known: a
    style measured before REST was calibrated priced its notification hop at a stand-in."""
    prices = noop_prices(results)
    for name, result in results.items():
        section = result.get("cpu")
        calibration = result.get("calibration") or {}
        if section is not None:
            noop = calibration.get("cpu_ms_per_call")
            _set_bound(section, name, noop, prices, transaction_cost_ms)
