"""Runs one service process: one uvloop event loop serving every adapter, clean shutdown.

The composition root of each service hands over a `bootstrap` coroutine that builds the service
and registers everything to close on an AsyncExitStack. This module owns signals: on SIGINT or
SIGTERM it stops accepting, lets in-flight requests finish, cancels background loops and closes
resources in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import uvicorn
import uvloop
from starlette.types import ASGIApp

from services.kernel import tracing
from services.kernel.config import ConfigError, Settings
from services.kernel.http.server import HeadLimits, bounded_protocol
from services.kernel.telemetry import configure_logging

log = logging.getLogger(__name__)
GRACE_S = 5.0
KEEP_ALIVE_S = 75  # seconds an idle HTTP keep-alive connection stays open (nginx's default)
HEAD_LIMITS = HeadLimits()  # 16 KiB and 100 fields per request head, sent within 10 s


class Server(Protocol):
    """A server that runs beside the HTTP app on the same loop (a `grpc.aio.Server` is one)."""

    async def start(self) -> None: ...

    async def stop(self, grace: float | None) -> None: ...


@dataclass
class RunningService:
    http_app: ASGIApp
    http_port: int
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    # Set the moment the process is told to stop, before the servers drain: responses that
    # would never end by themselves (event streams) watch it and end at once, instead of
    # holding the drain for the whole grace and being cut off.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


Bootstrap = Callable[[Settings, AsyncExitStack], Awaitable[RunningService]]


class SignalFreeServer(uvicorn.Server):
    """uvicorn without its own signal handling: the process has more than one adapter to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run(service: str, bootstrap: Bootstrap) -> None:
    """Entry point of a service process."""
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"orderflow {service}: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(service, settings.log_level)
    traces = None
    try:
        traces = tracing.configure(service)  # off unless OTEL_* / ORDERFLOW_TRACES_FILE ask
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(service, settings, bootstrap))
    except ConfigError as error:  # found while building, e.g. a database of an older schema
        print(f"orderflow {service}: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        if traces is not None:
            traces.shutdown()  # exports the spans still batched


async def _serve(service: str, settings: Settings, bootstrap: Bootstrap) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if not await _delayed_start(service, settings.start_delay_s, stop):
        return
    async with AsyncExitStack() as resources:
        running = await bootstrap(settings, resources)
        server = SignalFreeServer(
            http_config(
                running.http_app,
                host=settings.host,
                port=running.http_port,
                log_level=settings.log_level,
                max_body_bytes=settings.max_body_bytes,
            )
        )
        for extra in running.servers:
            await extra.start()
        http_task = asyncio.create_task(server.serve(), name=f"{service}-http")
        loops = [asyncio.create_task(job(), name=job.__name__) for job in running.background]
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({http_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        log.info("%s stopping", service)
        running.stopping.set()
        server.should_exit = True
        await asyncio.gather(*(extra.stop(GRACE_S) for extra in running.servers))
        await _finish(http_task, loops, stopper)
    log.info("%s stopped", service)


def http_config(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    log_level: str,
    max_body_bytes: int,
    head_limits: HeadLimits = HEAD_LIMITS,
    keep_alive_s: int = KEEP_ALIVE_S,
) -> uvicorn.Config:
    """The HTTP server of every service (tests build theirs here too, with shorter timeouts)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level=log_level,
        timeout_graceful_shutdown=int(GRACE_S),
        # httptools (uvicorn's fast parser) with the limits on a request's head that uvicorn
        # lacks: size, number of fields, time to send it (services/kernel/http/server.py).
        http=bounded_protocol(head_limits),
        # uvicorn closes an idle keep-alive connection after 5 s by default; a client that
        # sends on it just then gets "connection closed" (seen under load, from Locust and from
        # the services' own pooled clients). Idle gaps of clients that keep connections stay
        # well under this.
        timeout_keep_alive=keep_alive_s,
        # The sans-I/O implementation is websockets' maintained API. A JSON-RPC message obeys
        # the HTTP body limit, enforced by its adapter so that it can answer an oversized
        # message with an error and keep the socket; this hard cap (twice the limit) closes any
        # WebSocket (JSON-RPC, graphql-transport-ws) with 1009.
        ws="websockets-sansio",
        ws_max_size=2 * max_body_bytes,
        # No permessage-deflate, whatever a client offers (the websockets client offers it by
        # default): the messages are a few hundred bytes of JSON, and compressing each one on
        # both ends cost the order service and the load generator ~2-3% of their CPU each under
        # the WebSocket mix (py-spy) for no measurable gain on a local link.
        ws_per_message_deflate=False,
    )


async def _delayed_start(service: str, delay_s: float, stop: asyncio.Event) -> bool:
    """Wait `delay_s` before building anything, as a slow-booting process would (its ports refuse
    connections meanwhile). False when a signal came first: then the process starts nothing."""
    if delay_s <= 0:
        return True
    log.warning("%s: delaying start-up by %gs (ORDERFLOW_START_DELAY_S)", service, delay_s)
    try:
        await asyncio.wait_for(stop.wait(), delay_s)
    except TimeoutError:
        return True
    log.info("%s stopped before it started", service)
    return False


async def _finish(
    http_task: asyncio.Task[None], loops: list[asyncio.Task[None]], stopper: asyncio.Task[bool]
) -> None:
    stopper.cancel()
    for task in loops:
        task.cancel()
    await asyncio.gather(*loops, stopper, return_exceptions=True)
    # Re-raises a failure to bind the port, so the process exits non-zero.
    await http_task
