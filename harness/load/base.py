"""The abstract user every style builds on, and the task mix the concrete users share.

A style's user implements four operations (browse_catalog, place_order, get_order, noop) over
its own protocol; the concrete users (locustfile.py) only say which tasks run and how often:
`SHOPPING` for the mix, `CALIBRATION` for the no-op that measures a style's transport ceiling.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, Final

from locust import TaskSet, User
from locust.env import Environment

from harness.load import tracing as traced
from harness.load.mix import TASK_WEIGHTS, OrderPlan, plan_order
from harness.load.pacing import OpenArrivals
from harness.load.report import Reporter
from harness.load.targets import Targets, default_host, from_options


class Schedule:
    """The open model's arrivals for this process, set when a test starts (None: closed)."""

    arrivals: OpenArrivals | None = None


class StyleUser(User):
    abstract = True
    style: ClassVar[str] = ""
    host = default_host()  # `orderflow up`'s order service; Locust's --host overrides it

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.targets: Targets = from_options(self.host or default_host(), _options(environment))
        self.reporter = Reporter(environment.events.request, self.style)
        self.rng = random.Random()
        self.customer_id = f"load-{uuid.uuid4().hex[:12]}"
        self.placed: deque[str] = deque(maxlen=32)
        self.due: float | None = None  # when the current task was due (open model only)

    def wait_time(self) -> float:
        """Closed model: straight on. Open model: until the next arrival is due."""
        arrivals = Schedule.arrivals
        if arrivals is None:
            self.due = None
            return 0.0
        self.due = arrivals.take()
        return max(0.0, self.due - time.time())

    def on_start(self) -> None:
        if Schedule.arrivals is not None:
            self.wait()  # the first task waits for its arrival too

    def started(self) -> float:
        """The time the current operation's latency runs from."""
        return self.due if self.due is not None else time.time()

    # The operations each style implements over its own protocol.
    def browse_catalog(self) -> None:
        raise NotImplementedError

    def place_order(self, plan: OrderPlan) -> str:
        """Place the order, report `place_order` and `order_completed`; the order's id."""
        raise NotImplementedError

    def get_order(self, order_id: str) -> None:
        raise NotImplementedError

    def noop(self) -> None:
        raise NotImplementedError


def browse(user: StyleUser) -> None:
    user.browse_catalog()


def order(user: StyleUser) -> None:
    # The root span of the order's trace, when this process traces (harness/load/tracing.py).
    with traced.order_request(user.style) as request:
        order_id = user.place_order(plan_order(user.rng, user.customer_id))
        request.is_for(order_id)
    user.placed.append(order_id)


def look_up(user: StyleUser) -> None:
    if not user.placed:  # nothing to look up yet: place the first order instead
        order(user)
        return
    user.get_order(user.rng.choice(user.placed))


def ping(user: StyleUser) -> None:
    user.noop()


# Locust takes {task: weight}, though its annotation of `tasks` only names lists.
SHOPPING: Final[Any] = {
    browse: TASK_WEIGHTS["browse_catalog"],
    order: TASK_WEIGHTS["place_order"],
    look_up: TASK_WEIGHTS["get_order"],
}
CALIBRATION: Final[list[TaskSet | Callable[..., Any]]] = [ping]


def _options(environment: Environment) -> Any:
    options = environment.parsed_options
    if options is None:
        raise RuntimeError("the orderflow users need Locust's parsed options (run through locust)")
    return options
