"""What the GraphQL tests add to the client (harness/clients/graphql.py): PlaceOrderInput from
a sku: quantity map, and `serving`, which puts an app on a real socket for the in-process tests,
since a WebSocket needs one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from harness.clients import documents
from harness.clients.shapes import order_request


def place_input(
    items: dict[str, int],
    customer: str,
    token: str = "tok_visa",
    key: str | None = None,
) -> dict[str, Any]:
    return documents.place_input(order_request(items, token, customer, key))


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner owns the signals
        yield


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, ws_max_size: int = 2 * 65536) -> AsyncIterator[str]:
    """Serve `app` on a free local port in this event loop (as services/kernel/serve.py does);
    yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        access_log=False,
        log_config=None,
        ws="websockets-sansio",
        ws_max_size=ws_max_size,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
