"""An order's status changes as Server-Sent Events: `GET /orders/{id}/events`.

Each event is `event: status`, `id: <n>` (the order's n-th status, numbered by the store in the
transaction that saved it) and `data:` the change as JSON. A client that reconnects with
`Last-Event-ID: <n>` gets the statuses after n, none twice; the stream ends after a final
status. A client that reconnects after the final status (as a browser's EventSource does when
a stream ends) is answered 204, which tells it to stop. sse-starlette frames the events, sends
the keep-alive comments and notices disconnects.

Bounded cost: at most `max_streams` open streams per process (beyond: 503 problem+json with
Retry-After), each one of the process's bounded watchers (updates.py: with none left, 503
`TOO_MANY_WATCHERS`); a stream holds no buffer of its own (the store is read on each wake-up,
and the live-update queue it waits on is bounded).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from services.kernel.errors import InvalidRequest, Overloaded
from services.kernel.http.problem import problem_responses
from services.order.api import prefer
from services.order.api.rest import Handlers, OrderId
from services.order.updates import Room, StatusChange

T = TypeVar("T")
EVENT_ID_PATTERN = r"^[0-9]{1,9}$"
EVENT_STREAM_DESCRIPTION = (
    "`text/event-stream`: one `status` event per status the order reached, `id` its number "
    "(1 = PENDING), `data` a JSON object `{order_id, seq, status, reason, at}`; the stream "
    "ends after a final status (CONFIRMED, REJECTED, CANCELLED). Comments (`: keep-alive`) "
    "keep an idle stream open through proxies."
)


class TooManyStreams(Overloaded):
    """One more stream while the process serves `max_streams` (503 problem+json)."""

    code = "TOO_MANY_STREAMS"
    retry_after_s = 5  # a stream lasts as long as its order's saga: longer than a request


@dataclass
class StreamLimit:
    """The per-process bound on open streams, their keep-alive period (from Settings), and the
    process's shutdown event (services/kernel/serve.py sets it), on which every stream ends."""

    max_streams: int
    keepalive_s: float
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    open: int = 0

    def take(self) -> bool:
        if self.open >= self.max_streams:
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open -= 1


async def stream_limit(request: Request) -> StreamLimit:
    found = request.app.state.streams
    if not isinstance(found, StreamLimit):
        raise TypeError(f"app.state.streams is {type(found).__name__}, not StreamLimit")
    return found


Streams = Annotated[StreamLimit, Depends(stream_limit)]
LastEventId = Header(
    alias="Last-Event-ID", json_schema_extra=prefer.optional_string(EVENT_ID_PATTERN)
)
router = APIRouter(tags=["orders"])


@router.get(
    "/orders/{order_id}/events",
    summary="The order's status changes as Server-Sent Events, until its final status",
    description=EVENT_STREAM_DESCRIPTION,
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        204: {"description": "The client has the final status already (Last-Event-ID)"},
        **problem_responses(404, 422),
        503: {
            **problem_responses(503)[503],
            "description": "The process serves as many streams (`TOO_MANY_STREAMS`) or follows "
            "as many orders (`TOO_MANY_WATCHERS`) as it may: no stream opened; retry after "
            "`Retry-After` seconds.",
        },
    },
)
async def order_events(
    order_id: OrderId,
    use: Handlers,
    streams: Streams,
    last_event_id: Annotated[str | None, LastEventId] = None,
) -> Response:
    after = _seen(last_event_id)
    if await use.seen_the_end(order_id, after):  # (an unknown order: 404, no stream opens)
        return Response(status_code=204)  # the spec's "stop reconnecting"
    # Room for the stream's watcher before the 200 (TooManyWatchers: 503 problem+json).
    room = use.watch_room()
    if not streams.take():
        room.release()
        raise TooManyStreams(
            f"this process already serves {streams.max_streams} event streams; retry later",
            limit=streams.max_streams,
        )
    changes = _until(streams.stopping, use.status_changes(order_id, after, room))
    return _Leased(
        streams,
        room,
        changes,
        (_event(change) async for change in changes),
        ping=streams.keepalive_s,
        ping_message_factory=lambda: ServerSentEvent(comment="keep-alive"),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class _Leased(EventSourceResponse):
    """Gives its stream's place back however the response ends (finished, disconnected,
    failed, cancelled at shutdown), and ends the watch its changes hold: a client that leaves
    frees its watcher now, not when the garbage collector finds the abandoned generators."""

    def __init__(
        self,
        limit: StreamLimit,
        room: Room,
        changes: AsyncGenerator[StatusChange, None],
        content: AsyncIterator[Any],
        **options: Any,
    ) -> None:
        super().__init__(content, **options)
        self._limit = limit
        self._room = room  # released by the watch too; here for a stream that never started it
        self._changes = changes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                await self._changes.aclose()
            finally:
                self._limit.release()
                self._room.release()


async def _until(stopping: asyncio.Event, changes: AsyncGenerator[T, None]) -> AsyncGenerator[T]:
    """`changes` until the process stops. The stream then ends as a finished one does (a whole
    response, which a client reconnects from with Last-Event-ID to another process), not cut
    off when the server's grace runs out. Closing this closes `changes` (and its watch)."""
    stopped = asyncio.ensure_future(stopping.wait())
    step: asyncio.Future[T] | None = None
    try:
        while not stopping.is_set():
            step = asyncio.ensure_future(anext(changes))
            await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                step.cancel()  # the wait inside the store's live updates: nothing is lost
                await asyncio.gather(step, return_exceptions=True)
                return
            try:
                yield step.result()
            except StopAsyncIteration:
                return
    finally:
        stopped.cancel()
        if step is not None and not step.done():
            # Cancelled while `changes` runs in the read beside it (a client that left): the
            # read is cancelled too, which ends `changes` there; one not started never starts.
            step.cancel()
        else:
            await changes.aclose()


def _seen(last_event_id: str | None) -> int:
    """The number of the last status the client has (0: none yet)."""
    if last_event_id is None:
        return 0
    if not re.fullmatch(EVENT_ID_PATTERN, last_event_id):
        raise InvalidRequest(
            f"Last-Event-ID must be an event id this stream sent, got {last_event_id!r}",
            field="Last-Event-ID",
        )
    return int(last_event_id)


def _event(change: StatusChange) -> ServerSentEvent:
    data = {
        "order_id": change.order_id,
        "seq": change.seq,
        "status": change.status.value,
        "reason": change.reason.value if change.reason else None,
        "at": change.at,
    }
    return ServerSentEvent(json.dumps(data), event="status", id=str(change.seq))
