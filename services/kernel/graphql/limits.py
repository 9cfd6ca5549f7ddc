"""Limits on what one GraphQL document may ask for, the same on every service.

The body size limit (middleware) bounds the bytes; these bound the work a document can cause
within them. The deepest legitimate selection in any schema here is five fields
(`placeOrder { ... on UnknownSku { order { items { product { name } } } } }`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.extensions.base_extension import SchemaExtension

MAX_DEPTH: Final = 6
MAX_TOKENS: Final = 1000
MAX_ALIASES: Final = 15

# The messages the limiters above produce, so their errors get a code of their own.
_CODES_BY_MESSAGE: Final = (
    ("exceeds maximum operation depth", "QUERY_TOO_DEEP"),
    ("Document contains more than", "QUERY_TOO_LARGE"),
    ("aliases found. Allowed:", "QUERY_TOO_LARGE"),
)


def limit_extensions() -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    """Factories, so each operation gets fresh extension instances (strawberry's advice)."""
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
    ]


def limit_code(message: str) -> str | None:
    return next((code for text, code in _CODES_BY_MESSAGE if text in message), None)
