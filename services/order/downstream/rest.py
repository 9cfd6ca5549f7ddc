"""The order service's REST clients for inventory and payment (notification: notification.py).

Each maps the other service's answers onto the saga's ports: a 2xx is a result, a known refusal
(problem+json `code`) is a typed refusal, anything else is `DownstreamUnavailable` from JsonClient.
So is a 2xx whose body cannot be read as the result it should hold (not JSON, a member missing or
of the wrong type, a status this client does not know; read inside JsonClient.exchange, which
counts it `unreadable`): the call may have had its effect, and the saga compensates an unknown
outcome, as with the gRPC, GraphQL and WebSocket clients.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from http import HTTPStatus
from typing import Any

from services.kernel.config import Settings
from services.kernel.contracts import Line
from services.kernel.errors import DownstreamUnavailable
from services.kernel.http.client import JsonClient, Reply
from services.kernel.telemetry import Telemetry
from services.order.domain import OrderLine
from services.order.downstream.interfaces import (
    ChargeRefused,
    ChargeResult,
    ChargeStatus,
    RefusalReason,
    ReservationRefused,
)


def json_client(
    service: str,
    timeout_s: float,
    settings: Settings,
    telemetry: Telemetry,
    resources: AsyncExitStack,
) -> JsonClient:
    client = JsonClient(service, settings.address(service).http_url, timeout_s, telemetry)
    resources.push_async_callback(client.aclose)
    return client


async def connect(
    settings: Settings, telemetry: Telemetry, resources: AsyncExitStack
) -> tuple[RestInventory, RestPayment]:
    timeout_s = settings.call_timeout_s
    return (
        RestInventory(json_client("inventory", timeout_s, settings, telemetry, resources)),
        RestPayment(json_client("payment", timeout_s, settings, telemetry, resources)),
    )


class RestInventory:
    def __init__(self, client: JsonClient) -> None:
        self._client = client

    async def reserve(self, order_id: str, lines: tuple[Line, ...]) -> tuple[OrderLine, ...]:
        items = [{"sku": line.sku, "quantity": line.quantity} for line in lines]
        body = {"order_id": order_id, "items": items}
        async with self._client.exchange("reserve", "POST", "/reservations", json=body) as answer:
            if answer.is_success:
                return tuple(priced_line(item) for item in member(answer.json(), "items", list))
            code = _problem_code(answer)
            if code in RefusalReason.__members__:
                raise ReservationRefused(RefusalReason(code), _problem_detail(answer))
            raise _unexpected(self._client, "reserve", answer)

    async def release(self, order_id: str) -> None:
        response = await self._client.call("release", "POST", f"/reservations/{order_id}/release")
        if not response.is_success:
            raise _unexpected(self._client, "release", response)


class RestPayment:
    def __init__(self, client: JsonClient) -> None:
        self._client = client

    async def charge(
        self, order_id: str, customer_id: str, amount_cents: int, token: str
    ) -> ChargeResult:
        body = {
            "order_id": order_id,
            "customer_id": customer_id,
            "amount_cents": amount_cents,
            "payment_token": token,
        }
        async with self._client.exchange("charge", "POST", "/charges", json=body) as answer:
            if answer.is_success:  # a status no ChargeStatus names is unreadable (ValueError)
                return ChargeResult(ChargeStatus(member(answer.json(), "status", str)))
            if answer.status_code == HTTPStatus.CONFLICT:
                raise ChargeRefused(_problem_detail(answer))
            raise _unexpected(self._client, "charge", answer)

    async def refund(self, order_id: str) -> None:
        response = await self._client.call("refund", "POST", f"/charges/{order_id}/refund")
        if not response.is_success:
            raise _unexpected(self._client, "refund", response)


def member(body: object, name: str, kind: type[Any]) -> Any:
    """`body[name]`, which must be a `kind` (an int is not a bool here); TypeError otherwise.
    (The WebSocket clients read the same JSON members, schema-less too, with this.)"""
    if not isinstance(body, dict):
        raise TypeError("the answer is not a JSON object")
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{name} is not a {kind.__name__}")
    return value


def priced_line(item: object) -> OrderLine:
    """A priced line of a reservation, members of the right type; KeyError, TypeError else."""
    return OrderLine(
        member(item, "sku", str),
        member(item, "quantity", int),
        member(item, "unit_price_cents", int),
    )


def _problem(response: Reply) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _problem_code(response: Reply) -> str:
    return str(_problem(response).get("code", ""))


def _problem_detail(response: Reply) -> str:
    return str(_problem(response).get("detail", f"HTTP {response.status_code}"))


def _unexpected(client: JsonClient, operation: str, response: Reply) -> Exception:
    """An answer this client does not understand: treat the outcome as unknown."""
    cause = f"HTTP {response.status_code} {_problem_code(response)}".strip()
    return DownstreamUnavailable(client.service, operation, cause)
