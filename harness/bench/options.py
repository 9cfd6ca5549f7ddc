"""`orderflow bench`'s arguments, checked up front so a mistake is an error, not a long run."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.bench.runner import WORKERS_WAIT_S, Load, Workers, open_pool
from harness.stack.replicas import GRPC_BALANCING, PROXY_L7
from harness.traces.collect import DEFAULT_RATIO as DEFAULT_TRACES
from harness.vocabulary import RUNNABLE, STYLES, style_of
from services.kernel.resilience.policy import PROFILES

DEFAULT_DURATION_S: Final = 30.0
MIN_FACTOR: Final = 0.01  # of --time-scale
MAX_FACTOR: Final = 10.0
_SECONDS = re.compile(r"^(\d+)(s|m)?$")
_LATENCY = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")
# HOST, HOST:PORT, [IPv6] or [IPv6]:PORT
_HOST_PORT = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]\s]+))(?::(?P<port>\d+))?$"
)
LOCUST_MASTER_PORT: Final = 5557  # Locust's own default
STORES: Final = ("sqlite", "postgres")


class InvalidArguments(ValueError):
    """An argument that cannot be run; the message says which and why."""


@dataclass(frozen=True)
class Capacity:
    slo_p99_ms: float
    max_error_rate: float
    step_s: float
    start_rate: float
    max_rate: float
    growth: float
    pool: int | None  # --users: the open model's pool at every step (default: by the rate)


@dataclass(frozen=True)
class BenchPlan:
    styles: tuple[str, ...]
    load: Load
    calibration_s: float | None
    target: str | None
    out: Path | None
    capacity: Capacity | None
    profile: str | None = None  # None: what ORDERFLOW_PROFILE says
    traces: float | None = None  # --traces: the ratio of orders traced; None: no tracing
    store: str = "sqlite"  # the own stack's: each service's SQLite file, or PostgreSQL
    replicas: int = 1  # of each service in the own stack
    stack_host: str = "127.0.0.1"  # where the own stack listens
    grpc_balancing: str = PROXY_L7  # with replicas: how order's gRPC calls reach them
    private_broker: bool = False  # its own stack on a RabbitMQ node of the run's own


def duration(text: str) -> float:
    """Whole seconds, as '30s', '2m' or plain '30' (Locust runs for whole seconds)."""
    match = _SECONDS.match(text.strip())
    if not match or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 30s or 2m)")
    return float(int(match.group(1)) * (60 if match.group(2) == "m" else 1))


def latency_ms(text: str) -> float:
    """A latency, as '250ms', '0.5s' or plain milliseconds ('250')."""
    match = _LATENCY.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a latency: {text!r} (try 250ms or 1s)")
    return float(match.group(1)) * (1000.0 if match.group(2) == "s" else 1.0)


def ratio(text: str) -> float:
    """A sampling ratio: more than 0, at most 1 (every order)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"not a ratio: {text!r} (above 0, at most 1, e.g. 0.1)")
    return value


def time_scale(text: str) -> float:
    """A factor for a scenario's timeline: 0.25 runs it in a quarter of the time."""
    try:
        factor = float(text)
    except ValueError:
        factor = 0.0
    if not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise argparse.ArgumentTypeError(
            f"not a time scale: {text!r} (from {MIN_FACTOR:g} to {MAX_FACTOR:g}, e.g. 0.25)"
        )
    return factor


def host_port(text: str) -> tuple[str, int]:
    """`HOST[:PORT]` (an IPv6 address in brackets); Locust's port 5557 when none is given."""
    match = _HOST_PORT.match(text.strip())
    port = int(match.group("port") or LOCUST_MASTER_PORT) if match else 0
    if match is None or not 0 < port < 65536:
        raise argparse.ArgumentTypeError(
            f"not HOST[:PORT]: {text!r} (try 0.0.0.0:5557, 10.0.0.5 or [::1]:5557)"
        )
    return match.group("v6") or match.group("host"), port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "scenario",
        nargs="?",
        type=Path,
        metavar="SCENARIO.yaml",
        help="run a fault scenario (scenarios/*.yaml, see docs/scenarios.md) instead",
    )
    add(
        "--styles",
        help="comma-separated, in run order (default: the five styles); the variants"
        " rest-sse and broker-amqp run only when named",
    )
    add("--users", type=int, help="closed model: this many users (default 10); open: the pool")
    add("--rate", type=float, help="open model: task arrivals per second across all users")
    add("--duration", type=duration, help="load per style (default 30s)")
    add("--calibration", type=duration, help="no-op ceiling per style (default: up to 10s)")
    add("--no-calibration", action="store_true", help="skip measuring the transport ceilings")
    add("--processes", type=int, default=1, help="Locust processes (default 1)")
    add(
        "--time-scale",
        type=time_scale,
        metavar="F",
        help="scenario: multiply every time in the file by F (0.25: a quarter as long)",
    )
    add(
        "--profile",
        choices=tuple(PROFILES),
        help="resilience profile of the stack it starts (default: the scenario file's, else"
        " ORDERFLOW_PROFILE, else naive)",
    )
    add("--target", metavar="URL", help="a running stack's order service (default: start one)")
    add(
        "--master-bind",
        type=host_port,
        metavar="HOST[:PORT]",
        help="distributed load: Locust's master listens here (port 5557 if not given) for"
        " workers started elsewhere with `orderflow locust-worker --master HOST:PORT`",
    )
    add(
        "--expect-workers",
        type=int,
        metavar="N",
        help="with --master-bind: wait for N workers before each phase (they run all the users)",
    )
    add(
        "--workers-wait",
        type=duration,
        metavar="SECONDS",
        help=f"with --expect-workers: how long a phase waits for its workers before it fails"
        f" ({WORKERS_WAIT_S:g}s; a worker of `orderflow locust-worker` is back in seconds)",
    )
    add(
        "--store",
        choices=STORES,
        default="sqlite",
        help="where its own stack keeps its data: a SQLite file per service (default), or a"
        " PostgreSQL database per service (ORDERFLOW_POSTGRES_ADMIN_URL's server, as `orderflow"
        " up --store postgres`), created for the run and dropped after it",
    )
    add(
        "--stack-host",
        metavar="HOST",
        help="the address its own stack listens on (default 127.0.0.1): one that workers on"
        " other machines reach, e.g. this machine's 10.0.0.5",
    )
    add(
        "--replicas",
        type=int,
        default=1,
        metavar="N",
        help="replicas of each service in its own stack (default 1; more need --store postgres,"
        " and HAProxy takes each service's ports, balancing to the replicas: docs/scale-out.md)",
    )
    add(
        "--grpc-balancing",
        choices=GRPC_BALANCING,
        help="with --replicas: how the order service's gRPC calls reach the replicas, as"
        " `orderflow up --grpc-balancing` (default: proxy-l7)",
    )
    add(
        "--private-broker",
        action="store_true",
        help="run its own stack on a RabbitMQ node of the run's own (needs rabbitmq-server), so"
        " that RabbitMQ's CPU is counted like the services' (`rabbitmq`), and the broker's"
        " no-op is priced with it; by default the stack uses ORDERFLOW_BROKER_URL's broker,"
        " which serves other runs too, and RabbitMQ's CPU is not counted",
    )
    add(
        "--traces",
        nargs="?",
        type=ratio,
        const=DEFAULT_TRACES,
        metavar="RATIO",
        help="trace the stack it starts and the load generator into <out>/traces, sampling"
        f" RATIO of the orders ({DEFAULT_TRACES:g} if not given; 1: all). Off by default:"
        " tracing costs CPU (docs/bench.md), and untraced figures compare with each other",
    )
    add("--out", type=Path, metavar="DIR", help="results folder (default .orderflow/bench/<id>)")
    add("--find-capacity", action="store_true", help="raise the rate step by step (see above)")
    add("--slo-p99", type=latency_ms, default=250.0, help="capacity: p99 limit (250ms; bare: ms)")
    add("--max-error-rate", type=float, default=0.001, help="capacity: errors below (0.001)")
    add("--step", type=duration, default=10.0, help="capacity: seconds per rate step (10s)")
    add("--start-rate", type=float, default=10.0, help="capacity: first rate (10/s)")
    add("--max-rate", type=float, default=2000.0, help="capacity: give up above (2000/s)")


def plan(args: argparse.Namespace) -> BenchPlan:
    styles = _styles(",".join(STYLES) if args.styles is None else args.styles)
    duration_s = args.duration or DEFAULT_DURATION_S
    _positive("--users", args.users)
    _positive("--rate", args.rate)
    _positive("--processes", args.processes)
    workers = _workers(args)
    if getattr(args, "time_scale", None) is not None:
        raise InvalidArguments("--time-scale shrinks a scenario file's timeline: give --duration")
    if args.find_capacity:
        capacity = _capacity(args)
        load = Load(
            open_pool(capacity.start_rate, args.users),
            capacity.start_rate,
            capacity.step_s,
            args.processes,
            workers=workers,
        )
    else:
        capacity = None
        users = open_pool(args.rate, args.users) if args.rate else (args.users or 10)
        load = Load(users, args.rate, duration_s, args.processes, workers=workers)
    _enough_users(load)
    calibration = None if args.no_calibration else (args.calibration or min(10.0, duration_s))
    if args.profile and args.target:
        raise InvalidArguments("--profile sets the stack bench starts: a --target has its own")
    traces = getattr(args, "traces", None)
    if traces is not None and args.target:
        raise InvalidArguments(
            "--traces traces the stack bench starts: a --target traces as it was configured"
        )
    store, replicas = _stack(args)
    balancing = getattr(args, "grpc_balancing", None)
    if balancing is not None and replicas == 1:
        raise InvalidArguments("--grpc-balancing chooses among replicas: give --replicas N too")
    stack_host = getattr(args, "stack_host", None)
    if stack_host is not None and args.target:
        raise InvalidArguments("--stack-host sets the stack bench starts: a --target has its own")
    private_broker = bool(getattr(args, "private_broker", False))
    if private_broker and args.target:
        raise InvalidArguments(
            "--private-broker starts a broker for the stack bench starts: a --target has its own"
        )
    if private_broker and stack_host is not None:
        raise InvalidArguments(
            "--private-broker: the private node listens on 127.0.0.1 only, which workers on"
            " other machines (--stack-host) cannot reach"
        )
    return BenchPlan(
        styles,
        load,
        calibration,
        args.target,
        args.out,
        capacity,
        args.profile,
        traces,
        store,
        replicas,
        stack_host or "127.0.0.1",
        balancing or PROXY_L7,
        private_broker,
    )


def _workers(args: argparse.Namespace) -> Workers | None:
    """--master-bind and --expect-workers: both or neither; the workers are the processes."""
    bind, count = getattr(args, "master_bind", None), getattr(args, "expect_workers", None)
    wait_s = getattr(args, "workers_wait", None)
    if bind is None and count is None:
        if wait_s is not None:
            raise InvalidArguments("--workers-wait is for --expect-workers")
        return None
    if bind is None or count is None:
        raise InvalidArguments(
            "--master-bind HOST[:PORT] and --expect-workers N go together: the master listens"
            " there and waits for N workers (`orderflow locust-worker --master HOST:PORT`)"
        )
    _positive("--expect-workers", count)
    if args.processes != 1:
        raise InvalidArguments(
            "--processes forks local Locust processes; with --expect-workers the workers are"
            " the processes (give `orderflow locust-worker` --processes N on their machines)"
        )
    host, port = bind
    return Workers(host, port, count, WORKERS_WAIT_S if wait_s is None else wait_s)


def _enough_users(load: Load) -> None:
    """Locust spreads the users over the workers, and each worker keeps an equal share of the
    open model's arrivals: a worker without a user would leave its share never sent."""
    if load.workers is not None and load.users < load.workers.count:
        raise InvalidArguments(
            f"{load.users} users cannot keep {load.workers.count} workers busy: give --users"
            f" {load.workers.count} or more (each worker runs at least one)"
        )


def _stack(args: argparse.Namespace) -> tuple[str, int]:
    """--store and --replicas shape the stack the bench starts; a --target has its own."""
    store = getattr(args, "store", None) or "sqlite"
    found = getattr(args, "replicas", None)
    replicas = 1 if found is None else int(found)
    _positive("--replicas", replicas)
    if args.target and (store != "sqlite" or replicas != 1):
        raise InvalidArguments(
            "--store and --replicas set the stack bench starts: a --target has its own"
        )
    if replicas > 1 and store != "postgres":
        raise InvalidArguments(
            "--replicas needs --store postgres: replicas share their service's database"
        )
    return store, replicas


# What a scenario file sets itself, so a flag for it would be ignored: refused instead.
SCENARIO_SETS: Final = {
    "users": "--users",
    "rate": "--rate",
    "duration": "--duration",
    "calibration": "--calibration",
    "no_calibration": "--no-calibration",
    "target": "--target",
    "find_capacity": "--find-capacity",
}


def scenario_styles(args: argparse.Namespace, listed: tuple[str, ...]) -> tuple[str, ...]:
    """The styles to run a scenario for: --styles (a subset of the file's, where a style's
    variant counts as the style: `--styles broker,broker-amqp` for a file listing broker), or
    the file's. Flags whose setting the file owns are refused, naming the flag."""
    given = [flag for name, flag in SCENARIO_SETS.items() if getattr(args, name, None)]
    given += [flag for flag, changed in _not_for_scenarios(args).items() if changed]
    if given:
        raise InvalidArguments(
            f"{', '.join(given)}: the scenario file sets the load and starts its own stacks;"
            " edit the file (or copy it) instead"
        )
    if args.styles is None:
        return listed
    chosen = _styles(args.styles)
    outside = [style for style in chosen if style_of(style) not in listed]
    if outside:
        raise InvalidArguments(f"--styles: {outside} not in the scenario's styles {list(listed)}")
    return chosen


def _not_for_scenarios(args: argparse.Namespace) -> dict[str, bool]:
    """Flags a scenario run does not take yet (its stacks and load are the file's), and
    whether each was given."""
    return {
        "--store": (getattr(args, "store", None) or "sqlite") != "sqlite",
        "--replicas": getattr(args, "replicas", None) not in (None, 1),
        "--grpc-balancing": getattr(args, "grpc_balancing", None) is not None,
        "--stack-host": getattr(args, "stack_host", None) is not None,
        # A scenario starts a private node itself when one of its faults stops the broker.
        "--private-broker": bool(getattr(args, "private_broker", False)),
        "--master-bind": getattr(args, "master_bind", None) is not None,
        "--expect-workers": getattr(args, "expect_workers", None) is not None,
        "--workers-wait": getattr(args, "workers_wait", None) is not None,
    }


def _styles(text: str) -> tuple[str, ...]:
    styles = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in styles if s not in RUNNABLE]
    if unknown or not styles:
        raise InvalidArguments(
            f"--styles: unknown {unknown or text!r}; choose from {','.join(RUNNABLE)}"
        )
    if len(set(styles)) != len(styles):
        raise InvalidArguments(f"--styles names a style twice: {text!r}")
    return styles


def _positive(flag: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise InvalidArguments(f"{flag} must be positive, not {value:g}")


def _capacity(args: argparse.Namespace) -> Capacity:
    _positive("--start-rate", args.start_rate)
    _positive("--max-error-rate", args.max_error_rate)
    if args.rate is not None:
        raise InvalidArguments("--find-capacity chooses the rates itself: drop --rate")
    if args.max_rate < args.start_rate:
        raise InvalidArguments("--max-rate must not be below --start-rate")
    return Capacity(
        args.slo_p99,
        args.max_error_rate,
        args.step,
        args.start_rate,
        args.max_rate,
        1.5,
        args.users,
    )
