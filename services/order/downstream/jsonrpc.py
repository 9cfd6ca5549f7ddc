"""The order service's JSON-RPC clients for inventory and payment, over persistent WebSockets.

One connection per service carries every call of every saga (see kernel/jsonrpc/client.py for
connecting, reconnecting and deadlines). Answers map onto the saga's interfaces exactly as over
REST: a result; a refusal the saga understands (ReservationRefused, ChargeRefused); anything else
is an unknown outcome, DownstreamUnavailable. (The server side is each service's api/ws.py.)
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from services.kernel.config import Settings, bracketed
from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable
from services.kernel.jsonrpc.client import RpcClient
from services.kernel.jsonrpc.errors import CONFLICT, RpcError
from services.kernel.telemetry import Telemetry
from services.order.domain import OrderLine
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeResult,
    ChargeStatus,
    RefusalReason,
    ReservationRefused,
)
from services.order.downstream.rest import member, priced_line


def rpc_client(
    service: str, settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> RpcClient:
    address = settings.address(service)
    url = f"ws://{bracketed(address.host)}:{address.http_port}/ws"
    client = RpcClient(service, url, settings.call_timeout_s, telemetry)
    resources.push_async_callback(client.aclose)
    return client


async def connect(
    settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> tuple[WsInventory, WsPayment]:
    """Builds the clients; each connects on its first call, so the targets need not be up yet."""
    return (
        WsInventory(rpc_client("inventory", settings, telemetry, resources)),
        WsPayment(rpc_client("payment", settings, telemetry, resources)),
    )


class WsInventory:
    def __init__(self, client: RpcClient) -> None:
        self._client = client

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        items = [{"sku": line.sku, "quantity": line.quantity} for line in lines]
        params = {"order_id": order_id, "items": items}
        try:
            return await self._client.call("reserve", params, _priced_lines)
        except RpcError as error:
            if error.reason in RefusalReason.__members__:
                raise ReservationRefused(RefusalReason(error.reason), error.message) from None
            raise _unexpected(self._client, "reserve", error) from None

    async def release(self, order_id: str) -> None:
        await _call_or_unavailable(self._client, "release", {"order_id": order_id})


class WsPayment:
    def __init__(self, client: RpcClient) -> None:
        self._client = client

    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult:
        params = {
            "order_id": order_id,
            "customer_id": customer_id,
            "amount_cents": amount_cents,
            "payment_token": token,
        }
        try:
            return await self._client.call("charge", params, _charge_result)
        except RpcError as error:
            if error.code == CONFLICT:  # e.g. CHARGE_VOIDED: REST's 409
                raise ChargeRefused(error.message) from None
            raise _unexpected(self._client, "charge", error) from None

    async def refund(self, order_id: str) -> None:
        await _call_or_unavailable(self._client, "refund", {"order_id": order_id})


async def _call_or_unavailable(client: RpcClient, method: str, params: dict[str, Any]) -> None:
    try:
        await client.call(method, params)
    except RpcError as error:
        raise _unexpected(client, method, error) from None


def _unexpected(client: RpcClient, operation: str, error: RpcError) -> DownstreamUnavailable:
    """A refusal this client does not understand: treat the outcome as unknown."""
    cause = f"JSON-RPC error {error.code} {error.reason}".strip()
    return DownstreamUnavailable(client.service, operation, cause)


def _priced_lines(result: Any) -> tuple[OrderLine, ...]:
    return tuple(priced_line(item) for item in member(result, "items", list))


def _charge_result(result: Any) -> ChargeResult:
    return ChargeResult(ChargeStatus(member(result, "status", str)))
