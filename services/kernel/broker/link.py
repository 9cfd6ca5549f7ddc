"""One AMQP connection per service process, on its asyncio loop, that comes back by itself.

pika's AsyncioConnection speaks in callbacks; this module turns them into awaitables and owns
the life cycle: connect, declare the topology, open a confirming publisher channel and (for a
consuming service) a consumer channel, then wait. When the broker goes away, every unconfirmed
publish fails (its sender keeps the message and tries again), and the link reconnects with
back-off and resumes consuming. Messages consumed but not yet acknowledged are redelivered by
the broker; consumers are idempotent, so that is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pika
from pika.adapters.asyncio_connection import AsyncioConnection
from prometheus_client import Counter, Gauge

from services.kernel.broker.frames import guard_frame_decoding
from services.kernel.broker.topology import Exchange, Queue, Topology
from services.kernel.telemetry import Telemetry

log = logging.getLogger(__name__)
RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 3.0)
PUBLISH_ID = "x-orderflow-publish-id"
CLOSE_WAIT_S = 2.0
DEPTH_EVERY_S = 1.0  # as often as the harness reads /metrics


class BrokerUnavailable(Exception):
    """The link is down, or went down before the broker confirmed a message."""


class NotConfirmed(Exception):
    """The broker refused the message (nack) or could not route it anywhere (returned)."""

    def __init__(self, reason: str, *, returned: bool = False) -> None:
        super().__init__(reason)
        self.returned = returned


@dataclass(frozen=True)
class Delivery:
    body: bytes
    routing_key: str
    properties: Any  # pika.BasicProperties
    redelivered: bool

    @property
    def headers(self) -> Mapping[str, Any]:
        return self.properties.headers or {}


DeliveryHandler = Callable[[Delivery], Awaitable[None]]


@dataclass
class _Pending:
    future: asyncio.Future[None]
    publish_id: str


class BrokerLink:
    def __init__(
        self,
        url: str,
        topology: Topology,
        telemetry: Telemetry,
        *,
        consume: str | None = None,
        on_delivery: DeliveryHandler | None = None,
        prefetch: int = 32,
    ) -> None:
        guard_frame_decoding()  # a poison header must not stop the queue (frames.py)
        self._parameters = _parameters(url)
        self._topology = topology
        self._consume = consume
        self._on_delivery = on_delivery
        self._prefetch = prefetch
        self.connected = asyncio.Event()
        self._connection: Any = None
        self._publisher: Any = None
        self._tag = 0
        self._unconfirmed: dict[int, _Pending] = {}
        self._returned: set[str] = set()
        self._session_id = 0
        self._closing = False
        self._deliveries: set[asyncio.Task[None]] = set()
        self._gauge = Gauge(
            "orderflow_broker_connected",
            "1 while the AMQP link is up.",
            registry=telemetry.registry,
        )
        self._depth = Gauge(
            "orderflow_broker_queue_depth",
            "Messages ready in the consumed queue (not yet delivered), as the broker last said.",
            registry=telemetry.registry,
        )
        self._published = _counter(telemetry, "orderflow_broker_published", "outcome")
        self._sessions = _counter(telemetry, "orderflow_broker_connections", "outcome")

    async def run(self) -> None:
        """Keep the link up until cancelled: connect, serve, and reconnect with back-off."""
        failures = 0
        try:
            while True:
                try:
                    await self._session()
                    failures = 0
                except (pika.exceptions.AMQPError, OSError, BrokerUnavailable) as error:
                    self._sessions.labels("failed").inc()
                    (log.warning if failures == 0 else log.debug)("broker link: %r", error)
                    failures += 1
                except Exception:  # a bug must not end the link for good: say it, go again
                    self._sessions.labels("failed").inc()
                    log.exception("broker link failed unexpectedly; reconnecting")
                    failures += 1
                await asyncio.sleep(RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)])
        finally:
            self._down(BrokerUnavailable("the link is closing"))

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Any,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        """Publish with `mandatory` and wait for the broker's confirm; raise if it never comes."""
        channel = self._publisher
        if not self.connected.is_set() or channel is None or not channel.is_open:
            raise BrokerUnavailable("not connected to the broker")
        # A returned message is matched to its publish by this id (message ids repeat: a retried
        # command's answer, a poison message without one).
        publish_id = f"{self._session_id}:{self._tag + 1}"
        properties.headers = {**(properties.headers or {}), PUBLISH_ID: publish_id}
        # Publish first: if it raises, no tag was counted, so later confirms stay aligned.
        channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
        self._tag += 1
        tag = self._tag
        pending = _Pending(asyncio.get_running_loop().create_future(), publish_id)
        self._unconfirmed[tag] = pending
        # Settled later even if this caller has gone (timeout, cancel): mark it retrieved.
        pending.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            await asyncio.wait_for(asyncio.shield(pending.future), timeout_s)
        except TimeoutError:
            self._unconfirmed.pop(tag, None)
            self._returned.discard(publish_id)
            pending.future.cancel()
            self._published.labels("timeout").inc()
            raise BrokerUnavailable(f"no confirm within {timeout_s}s") from None
        except NotConfirmed as error:
            self._published.labels("NotConfirmed").inc()
            if error.returned:
                self._repair()
            raise
        except BrokerUnavailable:
            self._published.labels("BrokerUnavailable").inc()
            raise
        self._published.labels("confirmed").inc()

    async def _session(self) -> None:
        closed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        try:
            await self._open(closed)
            self._publisher = await self._channel(closed)
            await _rpc(self._publisher.confirm_delivery, closed, ack_nack_callback=self._confirmed)
            self._publisher.add_on_return_callback(self._on_return)
            await self._declare(self._publisher, closed)
            depth: asyncio.Task[None] | None = None
            if self._consume and self._on_delivery:
                consumer = await self._channel(closed)
                await _rpc(consumer.basic_qos, closed, prefetch_count=self._prefetch)
                # The broker cancels a consumer whose queue is deleted: reconnect, which
                # declares the topology again and consumes anew.
                consumer.add_on_cancel_callback(lambda _frame: self._repair())
                consumer.basic_consume(self._consume, self._on_message)
                depth = asyncio.get_running_loop().create_task(self._watch_depth(consumer, closed))
            self._tag = 0
            self._session_id += 1
            self._closing = False
            self.connected.set()
            self._gauge.set(1)
            self._sessions.labels("opened").inc()
            log.info("broker link up (%s)", self._parameters.host)
            # Shielded: cancelling this task must not cancel `closed`, which _close waits on.
            try:
                cause = await asyncio.shield(closed)
            finally:
                if depth is not None:
                    depth.cancel()
            log.warning("broker link lost: %r", cause)
        finally:
            self._down(BrokerUnavailable("the broker connection closed"))
            await self._close(closed)

    async def _watch_depth(self, channel: Any, closed: asyncio.Future[BaseException]) -> None:
        """The consumed queue's ready messages once a second, for /metrics (a passive declare
        answers with the count): the backlog the harness plots during a run."""
        try:
            while channel.is_open:
                frame = await _rpc(channel.queue_declare, closed, queue=self._consume, passive=True)
                self._depth.set(frame.method.message_count)
                await asyncio.sleep(DEPTH_EVERY_S)
        except (pika.exceptions.AMQPError, BrokerUnavailable):
            return  # the session is ending: the next one watches again

    def _repair(self) -> None:
        """Something of the topology is missing (a message came back unroutable, a consumer
        was cancelled): reconnect, which declares everything again."""
        connection = self._connection
        if connection is not None and connection.is_open:
            log.error("broker topology incomplete; reconnecting to declare it again")
            connection.close()

    async def _close(self, closed: asyncio.Future[BaseException]) -> None:
        """Close the connection (also when cancelled at shutdown) and wait briefly for the
        broker to agree, so no socket is left half-open; handlers still running are cancelled
        (their messages were not acked, the broker redelivers them)."""
        self._closing = True  # deliveries still arriving now stay unacked: the broker redelivers
        for task in self._deliveries:
            task.cancel()
        connection = self._connection
        if connection is not None and not (connection.is_closed or connection.is_closing):
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(closed), CLOSE_WAIT_S)
        if connection is not None and not closed.done():
            # The broker did not agree in time (busy, paused or gone). pika (1.4.4) has no
            # public abort for an open connection: close() waits for Close-Ok without a limit,
            # and pika drops the stream itself only on Close-Ok, a Close from the broker or a
            # missed heartbeat (20-40 s here); its transport is deliberately private (see its
            # _StreamingProtocolShim). Rather than hold the socket open until then, drop the
            # transport as pika itself does after Close-Ok: the link's one private call.
            with contextlib.suppress(Exception):
                connection._adapter_disconnect_stream()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(closed), CLOSE_WAIT_S)

    async def _open(self, closed: asyncio.Future[BaseException]) -> Any:
        opened: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_open(connection: Any) -> None:
            _settle(opened, result=connection)

        def on_open_error(_: Any, error: BaseException) -> None:
            _settle(opened, error=BrokerUnavailable(f"cannot connect: {error!r}"))
            _settle(closed, result=error)

        def on_close(_: Any, error: BaseException) -> None:
            _settle(closed, result=error)

        self._connection = AsyncioConnection(self._parameters, on_open, on_open_error, on_close)
        return await opened

    async def _channel(self, closed: asyncio.Future[BaseException]) -> Any:
        opened: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._connection.channel(on_open_callback=lambda channel: _settle(opened, result=channel))
        channel = await _first(opened, closed)

        connection = self._connection

        def on_channel_closed(_: Any, reason: BaseException) -> None:
            # A channel closes on a protocol error (e.g. a declaration that disagrees with the
            # broker's); start over with a fresh connection rather than limp on.
            if connection.is_open:
                log.error("broker channel closed: %r", reason)
                connection.close()

        channel.add_on_close_callback(on_channel_closed)
        return channel

    async def _declare(self, channel: Any, closed: asyncio.Future[BaseException]) -> None:
        for item in self._topology.declarations():
            if isinstance(item, Exchange):
                await _rpc(
                    channel.exchange_declare,
                    closed,
                    exchange=item.name,
                    exchange_type=item.kind,
                    durable=True,
                )
            elif isinstance(item, Queue):
                arguments = dict(item.arguments)
                await _rpc(
                    channel.queue_declare,
                    closed,
                    queue=item.name,
                    durable=True,
                    arguments=arguments,
                )
                for exchange, key in item.bindings:
                    await _rpc(
                        channel.queue_bind,
                        closed,
                        queue=item.name,
                        exchange=exchange,
                        routing_key=key,
                    )

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        if self._closing:
            return
        delivery = Delivery(body, method.routing_key, properties, bool(method.redelivered))
        task = asyncio.get_running_loop().create_task(
            self._deliver(channel, method.delivery_tag, delivery)
        )
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, channel: Any, tag: int, delivery: Delivery) -> None:
        """Ack only after the handler's transaction has committed (and any retry or
        dead-letter copy is confirmed); if the channel is gone, the broker redelivers."""
        assert self._on_delivery is not None
        try:
            await self._on_delivery(delivery)
        except Exception as error:
            # The consumer could neither handle nor forward it (e.g. its retry copy came back).
            # Once more, then the queue's own dead-lettering: never a loop without end.
            again = not delivery.redelivered
            log.warning("delivery not handled (%r); %s", error, "requeued" if again else "to DLQ")
            await asyncio.sleep(1.0)  # not a hot loop while the cause lasts
            if channel.is_open:
                channel.basic_nack(tag, requeue=again)
            return
        if channel.is_open:
            channel.basic_ack(tag)

    def _confirmed(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = (
            [t for t in self._unconfirmed if t <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in tags:
            pending = self._unconfirmed.pop(tag, None)
            if pending is None:
                continue
            if pending.publish_id in self._returned:
                self._returned.discard(pending.publish_id)
                refused = NotConfirmed("no queue is bound for it (returned)", returned=True)
                _settle(pending.future, error=refused)
            elif acked:
                _settle(pending.future, result=None)
            else:
                _settle(pending.future, error=NotConfirmed("the broker nacked it"))

    def _on_return(self, _channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        log.error("broker returned %s (%s)", method.routing_key, method.reply_text)
        publish_id = (properties.headers or {}).get(PUBLISH_ID)
        if isinstance(publish_id, bytes):
            publish_id = publish_id.decode()
        if publish_id:
            self._returned.add(str(publish_id))

    def _down(self, error: BrokerUnavailable) -> None:
        self.connected.clear()
        self._gauge.set(0)
        self._publisher = None
        for pending in self._unconfirmed.values():
            _settle(pending.future, error=error)
        self._unconfirmed.clear()
        self._returned.clear()


def _parameters(url: str) -> Any:
    parameters = pika.URLParameters(url)
    parameters.connection_attempts = 1
    parameters.socket_timeout = 3
    parameters.stack_timeout = 5
    parameters.heartbeat = 15  # notice a dead broker in seconds, not TCP's minutes
    parameters.blocked_connection_timeout = 30
    return parameters


def _counter(telemetry: Telemetry, name: str, label: str) -> Counter:
    return telemetry.counter(name, f"{name.replace('_', ' ')} by {label}.", [label])


async def _rpc(method: Callable[..., Any], closed: asyncio.Future[Any], **kwargs: Any) -> Any:
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    method(callback=lambda frame: _settle(done, result=frame), **kwargs)
    return await _first(done, closed)


async def _first(wanted: asyncio.Future[Any], closed: asyncio.Future[Any]) -> Any:
    """The wanted result, unless the connection closes first."""
    await asyncio.wait({wanted, closed}, return_when=asyncio.FIRST_COMPLETED)
    if wanted.done():
        return wanted.result()
    wanted.cancel()
    raise BrokerUnavailable(f"connection closed: {closed.result()!r}")


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
