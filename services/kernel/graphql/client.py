"""Calls another service's `/graphql` over HTTP POST, on top of JsonClient (timeouts, the
correlation id header, and the downstream-call metrics).

Only a `data` answer is a result, and it is read (by the caller's `read`) inside the exchange,
so the metrics count what the caller made of it. GraphQL `errors` or a non-2xx status mean the
outcome is unknown: `DownstreamUnavailable`, the one failure the saga knows how to compensate
(counted `refused`). A body that is not a GraphQL answer, or one `read` cannot take, is
`DownstreamUnavailable` too, counted `unreadable`. Expected refusals arrive as typed members of
a result union instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from services.kernel.errors import DownstreamUnavailable
from services.kernel.graphql.router import PATH
from services.kernel.http.client import JsonClient, Reply

T = TypeVar("T")


def _itself(answer: Any) -> Any:
    return answer


class GraphQLClient:
    def __init__(self, client: JsonClient) -> None:
        self._client = client
        self.service = client.service

    async def execute(
        self,
        operation: str,
        document: str,
        variables: dict[str, Any],
        field: str,
        read: Callable[[Any], T] = _itself,
    ) -> T:
        """What `read` makes of the answer of `document`'s root `field` (never null)."""
        body = {"query": document, "variables": variables}
        async with self._client.exchange(operation, "POST", PATH, json=body) as reply:
            answer = self._data(operation, reply).get(field)
            if answer is None:
                raise TypeError(f"no {field!r} in the answer")
            return read(answer)

    async def mutate(
        self,
        operation: str,
        document: str,
        variables: dict[str, Any],
        field: str,
        read: Callable[[dict[str, Any]], T],
    ) -> T:
        """What `read` makes of the member of a result union that the root `field` answered."""
        return await self.execute(
            operation, document, variables, field, lambda answer: read(_member(answer))
        )

    def _data(self, operation: str, reply: Reply) -> dict[str, Any]:
        if not reply.is_success:
            raise DownstreamUnavailable(self.service, operation, f"HTTP {reply.status_code}")
        answer = reply.json()  # ValueError, RecursionError: unreadable
        if not isinstance(answer, dict):
            raise TypeError("not a GraphQL answer")
        if answer.get("errors"):
            raise DownstreamUnavailable(self.service, operation, _describe(answer["errors"]))
        data = answer.get("data")
        if not isinstance(data, dict):
            raise TypeError("an answer without data")
        return data


def _member(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("__typename"), str):
        raise TypeError("an answer without a member")
    return answer


def _describe(errors: Any) -> str:
    first = errors[0] if isinstance(errors, list) and errors else {}
    if not isinstance(first, dict):
        return "GraphQL error"
    code = (first.get("extensions") or {}).get("code", "GRAPHQL_ERROR")
    return f"{code}: {first.get('message', '')}"
