"""The server side of one WebSocket: read, dispatch concurrently, answer, push notifications.

Back-pressure, not refusal: at most `max_in_flight` requests of one connection run at once; while
they do, the loop stops reading, so a flooding client's messages wait in its own TCP buffers
(uvicorn pauses reading the socket) instead of in this process, and other connections keep being
served. A message over `max_message_bytes` is answered with an error and the connection stays open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, Final, TypeVar

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from services.kernel import correlation
from services.kernel.jsonrpc import messages
from services.kernel.jsonrpc.dispatcher import Dispatcher, Method

log = logging.getLogger(__name__)
H = TypeVar("H")

MAX_IN_FLIGHT: Final = 64
# The default of ORDERFLOW_MAX_BODY_BYTES: a JSON-RPC message obeys the same limit as a body.
DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * 1024


def handlers_from(connection: HTTPConnection, kind: type[H]) -> H:
    """The service's use cases, set by its composition root as `app.state.handlers`."""
    found = connection.app.state.handlers
    if not isinstance(found, kind):
        raise TypeError(f"app.state.handlers is {type(found).__name__}, not {kind.__name__}")
    return found


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

    async def send(self, message: dict[str, Any]) -> None:
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
) -> None:
    """Serve JSON-RPC on an accepted-to-be WebSocket until the client goes away."""
    await websocket.accept()
    connection = Connection(websocket)
    dispatcher = Dispatcher(methods, max_message_bytes)
    slots = asyncio.Semaphore(max_in_flight)
    try:
        while (data := await _next_message(websocket, slots)) is not None:
            task = connection.spawn(_answer(dispatcher, data, connection))
            task.add_done_callback(lambda _: slots.release())
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


async def _answer(dispatcher: Dispatcher, data: str | bytes, connection: Connection) -> None:
    reply = await dispatcher.answer(data, connection)
    if reply is not None:
        await connection.send(reply)
