"""The control endpoint: set and clear application faults at run time (services/kernel/faults.py).

Off unless ORDERFLOW_CONTROL_TOKEN is set; then it listens on 127.0.0.1 only, on the service's
own control port (never on ORDERFLOW_HOST), and every request must carry
`Authorization: Bearer <token>`. It is a separate listener so that no client of the service's
styles can reach it, whatever the service's own address is.

    GET    /faults              the operations that can fail here, and the faults set now
    PUT    /faults/{operation}  set one: {"latency_ms", "jitter_ms", "error_rate", "error", "hang"}
    DELETE /faults/{operation}  clear one
    DELETE /faults              clear them all
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.kernel.config import Settings
from services.kernel.faults import Fault, Faults, InvalidFault
from services.kernel.serve import SignalFreeServer

LOOPBACK = "127.0.0.1"
log = logging.getLogger(__name__)


def create_control_app(faults: Faults, token: str) -> Starlette:
    async def listing(request: Request) -> Response:
        if denied := _denied(request, token):
            return denied
        active = {name: fault.to_json() for name, fault in faults.active().items()}
        return JSONResponse({"operations": list(faults.operations), "active": active})

    async def one(request: Request) -> Response:
        if denied := _denied(request, token):
            return denied
        operation = request.path_params["operation"]
        try:
            if request.method == "DELETE":
                faults.clear(operation)
                return Response(status_code=204)
            fault = Fault.parse(await _json(request))
            faults.set(operation, fault)
        except InvalidFault as error:
            status = 404 if operation not in faults.operations else 400
            return JSONResponse({"error": str(error)}, status_code=status)
        log.warning("fault set on %s: %s", operation, fault.to_json())
        return JSONResponse({"operation": operation, "fault": fault.to_json()})

    async def clear_all(request: Request) -> Response:
        if denied := _denied(request, token):
            return denied
        faults.clear()
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/faults", listing, methods=["GET"]),
            Route("/faults", clear_all, methods=["DELETE"]),
            Route("/faults/{operation}", one, methods=["PUT", "DELETE"]),
        ]
    )


def _denied(request: Request, token: str) -> Response | None:
    given = request.headers.get("authorization", "")
    if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return None
    headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"error": "a valid bearer token is required"}, 401, headers=headers)


async def _json(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise InvalidFault("the body is not JSON") from None


class ControlServer:
    """The control endpoint as one of a service's servers (started and stopped with it)."""

    def __init__(self, faults: Faults, token: str, port: int) -> None:
        config = uvicorn.Config(
            create_control_app(faults, token),
            host=LOOPBACK,
            port=port,
            lifespan="off",
            access_log=False,
            log_config=None,
        )
        self._server = SignalFreeServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name="control")
        while not self._server.started and not self._task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._task.done():
            await self._task  # re-raises a failure to bind, so the service does not start

    async def stop(self, grace: float | None) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task

    def addresses(self) -> list[tuple[str, int]]:
        """Where it listens (once started): 127.0.0.1 only."""
        return [
            socket.getsockname()[:2] for server in self._server.servers for socket in server.sockets
        ]


def control_servers(service: str, settings: Settings, faults: Faults) -> list[ControlServer]:
    """The service's control endpoint, if ORDERFLOW_CONTROL_TOKEN turns it on."""
    if settings.control_token is None:
        return []
    port = settings.address(service).control_port
    return [ControlServer(faults, settings.control_token, port)]
