"""The users' options and run-time hooks on Locust's events: the target addresses, the open
model's schedule, and (for `orderflow bench`) the sample recorder and its progress lines."""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner
from opentelemetry.sdk.trace import TracerProvider

from harness.load import relay, targets
from harness.load import tracing as traced
from harness.load.base import Schedule
from harness.load.pacing import OpenArrivals, Surge, process_share
from harness.load.recorder import Recorder


class _Run:
    recorder: Recorder | None = None
    ticker: Any = None
    stopping_at: float | None = None  # when the run's time was up (users then finish a task)


class _Traces:
    provider: TracerProvider | None = None  # set when this process traces (tracing.py)


class NeverSent(Exception):
    """An arrival of the open model that no user was free to send before the run ended."""


class TaskCrashed(Exception):
    """A task ended on an exception the user did not report as a request (a bug, or an answer
    the user could not read): counted as a failure, so an error rate cannot miss it."""


def install() -> None:
    events.init.add_listener(_on_init)
    events.quitting.add_listener(_on_quitting)
    events.init_command_line_parser.add_listener(_add_options)
    events.test_start.add_listener(_on_test_start)
    events.test_stopping.add_listener(_on_test_stopping)
    events.test_stop.add_listener(_on_test_stop)
    events.request.add_listener(_on_request)
    events.user_error.add_listener(_on_user_error)


def _add_options(parser: Any) -> None:
    targets.add_arguments(parser)
    parser.add_argument(
        "--orderflow-rate",
        type=float,
        default=0.0,
        help="open model: task arrivals per second across all users (default 0: closed model)",
    )
    parser.add_argument(
        "--orderflow-surge",
        default="",
        help="open model: AT,DURATION,FACTOR multiplies the rate by FACTOR for DURATION seconds"
        " from AT seconds after the start (a traffic spike)",
    )
    parser.add_argument(
        "--orderflow-samples",
        default="",
        include_in_web_ui=False,
        help="folder where each process writes its raw samples (for orderflow bench)",
    )
    parser.add_argument(
        "--orderflow-phase",
        default="load",
        choices=("load", "calibration"),
        include_in_web_ui=False,
        help="what the samples are of (for orderflow bench)",
    )
    parser.add_argument(
        "--orderflow-workers",
        type=int,
        default=0,
        include_in_web_ui=False,
        help="a master's: the workers of a distributed run (each keeps its share of the open"
        " model's rate, and sends its samples to the master; harness/load/relay.py)",
    )


def _on_init(environment: Environment, **_: Any) -> None:
    _Traces.provider = traced.configure()
    relay.install(environment)


def _on_quitting(**_: Any) -> None:
    """Write the spans still buffered before the process ends."""
    if _Traces.provider is not None:
        _Traces.provider.shutdown()
        _Traces.provider = None


def _on_test_start(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return  # the workers run the users
    options = environment.parsed_options
    if options is None:
        return  # a Locust run without a command line (a library use): nothing to set up
    rate = float(getattr(options, "orderflow_rate", 0.0) or 0.0)
    share = process_share(rate, _processes(options)) if rate > 0 else 0.0
    surge_option = getattr(options, "orderflow_surge", "")
    surge = Surge.parse(surge_option) if surge_option else None
    Schedule.arrivals = OpenArrivals(share, surge=surge) if share > 0 else None
    folder = getattr(options, "orderflow_samples", "")
    if folder:
        # A remote worker's folder is the master's path, on another machine: it sends instead.
        send = partial(relay.send, environment) if relay.relays(environment) else None
        _Run.recorder = Recorder(Path(folder), _style(environment), options.orderflow_phase, send)
        _Run.recorder.announce()
        _Run.ticker = gevent.spawn(_tick, _Run.recorder)


def _on_test_stopping(**_: Any) -> None:
    _Run.stopping_at = time.time()


def _on_test_stop(environment: Environment, **_: Any) -> None:
    if _Run.ticker is not None:
        _Run.ticker.kill()
        _Run.ticker = None
    if _Run.recorder is not None:
        _record_never_sent(_Run.recorder)
        _Run.recorder.write()
        _Run.recorder = None


def _record_never_sent(recorder: Recorder) -> None:
    """The open model's arrivals due before the run's time was up that no user took: failures,
    with the latency they had reached by then (they would have waited longer still)."""
    arrivals, end = Schedule.arrivals, _Run.stopping_at
    if arrivals is None or end is None:
        return
    for due in arrivals.never_taken(end):
        error = NeverSent("due, but every user was busy until the run ended")
        recorder.on_request("never_sent", (end - due) * 1000.0, error, start_time=due)


def _on_user_error(exception: BaseException, **_: Any) -> None:
    if _Run.recorder is not None:
        _Run.recorder.on_request("task_crashed", 0.0, TaskCrashed(repr(exception)))


def _on_request(**sample: Any) -> None:
    if _Run.recorder is not None:
        _Run.recorder.on_request(**sample)


def _tick(recorder: Recorder) -> None:
    while True:
        gevent.sleep(1.0)
        recorder.progress()


def _processes(options: Any) -> int:
    workers = int(getattr(options, "orderflow_workers", 0) or 0)
    if workers > 0:  # a distributed run: the workers the master waited for share the rate
        return workers
    processes = getattr(options, "processes", None) or 1
    return os.cpu_count() or 1 if processes == -1 else int(processes)


def _style(environment: Environment) -> str:
    styles = {getattr(user, "style", "") for user in environment.user_classes}
    return styles.pop() if len(styles) == 1 else "mixed"
