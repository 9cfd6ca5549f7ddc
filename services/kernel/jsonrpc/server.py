"""The server side of one WebSocket: read, dispatch concurrently, answer, push notifications.

Back-pressure, not refusal: at most `max_in_flight` requests of one connection run at once; while
they do, the loop stops reading, so a flooding client's messages wait in its own TCP buffers
(uvicorn pauses reading the socket) instead of in this process, and other connections keep being
served. A message over `max_message_bytes` is answered with an error and the connection stays open.

A batch's requests run concurrently, each in a task and an in-flight slot of its own, exactly as
the same requests sent one by one would: the spec lets them run in any order, a batch of slow
calls (a `place_order` waits for its saga) then takes as long as its slowest, and a batch is no
way around the in-flight bound. The loop starts them one slot at a time and reads nothing more
until the last has started, so a connection never holds more than the bound, batches or not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Any, Final, TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from services.kernel import correlation
from services.kernel.jsonrpc import messages
from services.kernel.jsonrpc.dispatcher import Dispatcher, Method
from services.kernel.jsonrpc.messages import BadMessage, Batch, Limits

log = logging.getLogger(__name__)
H = TypeVar("H")

MAX_IN_FLIGHT: Final = 64
# Requests in one batch: as many as may run at once on a socket, so one batch can run whole.
MAX_BATCH: Final = MAX_IN_FLIGHT
# The default of ORDERFLOW_MAX_BODY_BYTES: a JSON-RPC message obeys the same limit as a body.
DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * 1024


class Connection:
    """One client's socket: its answers, its notifications and the tasks it owns."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._tasks: set[asyncio.Task[None]] = set()
        self._sending = asyncio.Lock()
        self._open = True
        self.correlation_id = websocket.headers.get(correlation.HEADER)

    async def notify(self, method: str, params: object) -> None:
        await self.send(messages.notification(method, params))

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("a task of a JSON-RPC connection failed", exc_info=error)

    async def send(self, message: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Send one message; once the client is gone, sending is a no-op, not an error."""
        if not self._open:
            return
        try:
            async with self._sending:
                await self._websocket.send_text(messages.encode(message))
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):
            self._open = False

    async def close(self) -> None:
        self._open = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def serve(
    websocket: WebSocket,
    methods: Mapping[str, Method],
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_in_flight: int = MAX_IN_FLIGHT,
    max_batch: int = MAX_BATCH,
) -> None:
    """Serve JSON-RPC on an accepted-to-be WebSocket until the client goes away."""
    await websocket.accept()
    connection = Connection(websocket)
    slots = asyncio.Semaphore(max_in_flight)
    work = _Work(Dispatcher(methods, Limits(max_message_bytes, max_batch)), connection, slots)
    try:
        while (data := await _next_message(websocket, slots)) is not None:
            await work.start(data)
    finally:
        await connection.close()


async def _next_message(websocket: WebSocket, slots: asyncio.Semaphore) -> str | bytes | None:
    """The next message once a slot is free (not reading is the back-pressure); None at the end."""
    await slots.acquire()
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text: str | None = message.get("text")
    return text if text is not None else bytes(message.get("bytes") or b"")


class _Work:
    """Starts the tasks of each message read. The slot taken to read a message goes to its
    first task; a batch's other requests take one each, waiting for it here, in the loop."""

    def __init__(self, dispatcher: Dispatcher, connection: Connection, slots: asyncio.Semaphore):
        self._dispatcher = dispatcher
        self._connection = connection
        self._slots = slots

    async def start(self, data: str | bytes) -> None:
        try:
            incoming = self._dispatcher.read(data)
        except BadMessage as bad:
            self._in_slot(self._connection.send(messages.failure(bad.request_id, bad.error)))
            return
        if isinstance(incoming, Batch):
            await self._start_batch(incoming)
        else:
            self._in_slot(self._reply(self._dispatcher.answer(incoming, self._connection)))

    async def _start_batch(self, batch: Batch) -> None:
        replies: list[dict[str, Any] | None] = [None] * len(batch.elements)
        running: list[asyncio.Task[None]] = []
        for index, element in enumerate(batch.elements):
            if isinstance(element, BadMessage):
                replies[index] = messages.failure(element.request_id, element.error)
                continue
            if running:  # the first request has the slot the message was read with
                await self._slots.acquire()
            running.append(self._in_slot(self._answer_into(replies, index, element)))
        if running:
            self._connection.spawn(self._send_batch(running, replies))
        else:
            self._in_slot(self._send_batch(running, replies))

    async def _answer_into(
        self, replies: list[dict[str, Any] | None], index: int, request: messages.Request
    ) -> None:
        replies[index] = await self._dispatcher.answer(request, self._connection)

    async def _send_batch(
        self, running: list[asyncio.Task[None]], replies: list[dict[str, Any] | None]
    ) -> None:
        """One array once every request has its response; nothing when all were notifications."""
        if running:
            await asyncio.wait(running)
        if answered := [reply for reply in replies if reply is not None]:
            await self._connection.send(answered)

    async def _reply(self, reply: Awaitable[dict[str, Any] | None]) -> None:
        if (message := await reply) is not None:
            await self._connection.send(message)

    def _in_slot(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` in a task of the connection that gives its slot back when it ends."""
        task = self._connection.spawn(work)
        task.add_done_callback(lambda _: self._slots.release())
        return task
