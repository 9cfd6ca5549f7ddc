"""The `Allow` header of a 405: every method that some route of the app serves on the path.

Starlette answers 405 from the first route whose path matched (so `/orders`, served by a GET
route and a POST route, said `Allow: POST`). RFC 9110 §15.5.6 wants all the target resource's
methods. Each standard method is tried against every route (plain routes, included routers,
mounts alike, through their own `matches`), so the answer is what the app would really serve.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

# RFC 9110 §9's methods a route may serve (CONNECT and TRACE are never routed here).
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    return [method for method in METHODS if _served(routes, {**scope, "method": method})]


def _served(routes: Sequence[BaseRoute], scope: Scope) -> bool:
    return any(route.matches(scope)[0] is Match.FULL for route in routes)
