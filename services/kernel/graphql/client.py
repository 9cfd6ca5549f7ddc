"""Calls another service's `/graphql` over HTTP POST, on top of JsonClient (timeouts, the
correlation id header, and the downstream-call metrics).

Only a `data` answer is a result. GraphQL `errors`, a non-2xx status or a body that is not a
GraphQL answer all mean the outcome is unknown: `DownstreamUnavailable`, the one failure the saga
knows how to compensate. Expected refusals arrive as typed members of a result union instead.
"""

from __future__ import annotations

from typing import Any

from services.kernel.errors import DownstreamUnavailable
from services.kernel.graphql.router import PATH
from services.kernel.http.client import JsonClient, Reply


class GraphQLClient:
    def __init__(self, client: JsonClient) -> None:
        self._client = client
        self.service = client.service

    async def execute(
        self, operation: str, document: str, variables: dict[str, Any], field: str
    ) -> Any:
        """Run `document` and return what its root `field` answered (never null)."""
        body = {"query": document, "variables": variables}
        reply = await self._client.call(operation, "POST", PATH, json=body)
        answer = self._data(operation, reply).get(field)
        if answer is None:
            raise DownstreamUnavailable(self.service, operation, f"no {field!r} in the answer")
        return answer

    async def mutate(
        self, operation: str, document: str, variables: dict[str, Any], field: str
    ) -> dict[str, Any]:
        """Run a mutation whose root `field` answers a member of a result union."""
        answer = await self.execute(operation, document, variables, field)
        if not isinstance(answer, dict) or not isinstance(answer.get("__typename"), str):
            raise DownstreamUnavailable(self.service, operation, "an answer without a member")
        return answer

    def _data(self, operation: str, reply: Reply) -> dict[str, Any]:
        if not reply.is_success:
            raise DownstreamUnavailable(self.service, operation, f"HTTP {reply.status_code}")
        try:
            answer = reply.json()
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested absurdly deep
            raise DownstreamUnavailable(self.service, operation, "unparseable answer") from None
        if not isinstance(answer, dict):
            raise DownstreamUnavailable(self.service, operation, "unparseable answer")
        if answer.get("errors"):
            raise DownstreamUnavailable(self.service, operation, _describe(answer["errors"]))
        data = answer.get("data")
        if not isinstance(data, dict):
            raise DownstreamUnavailable(self.service, operation, "an answer without data")
        return data


def _describe(errors: Any) -> str:
    first = errors[0] if isinstance(errors, list) and errors else {}
    if not isinstance(first, dict):
        return "GraphQL error"
    code = (first.get("extensions") or {}).get("code", "GRAPHQL_ERROR")
    return f"{code}: {first.get('message', '')}"
