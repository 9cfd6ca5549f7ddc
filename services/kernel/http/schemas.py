"""Request shapes that several REST adapters share.

Pydantic checks only shape and types (strictly: "5" is not a quantity); the business limits
(quantity range, distinct SKUs, known tokens) are checked once, in the domain.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.kernel.contracts import (
    IDENTIFIER_PATTERN,
    MAX_ID_LENGTH,
    MAX_QUANTITY,
    PAYMENT_TOKENS,
    Line,
)
from services.kernel.paging import MAX_PAGE, Page, Paged

# What OpenAPI states of an identifier, from the rule the domain checks (contracts.py).
IDENTIFIER_LIMITS: dict[str, Any] = {
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    "pattern": IDENTIFIER_PATTERN,
}


def documented(default: Any = ..., **limits: Any) -> Any:
    """A field (required unless given a default) whose limits OpenAPI shows but only the domain
    enforces: one rule, one place, and the domain's messages name the field and the limit."""
    return Field(default, json_schema_extra=limits)


def identifier() -> Any:
    return documented(**IDENTIFIER_LIMITS)


def identifier_in_path() -> Any:
    """A path segment that is an identifier (shown in OpenAPI; the domain checks it)."""
    return Path(json_schema_extra=IDENTIFIER_LIMITS)


def identifier_in_query() -> Any:
    return Query(json_schema_extra=IDENTIFIER_LIMITS)


def audit_page(
    after: Annotated[str | None, Query(json_schema_extra=IDENTIFIER_LIMITS)] = None,
    limit: Annotated[int, Query(json_schema_extra={"minimum": 1, "maximum": MAX_PAGE})] = MAX_PAGE,
) -> Page:
    """The page of an audit view that the query asks for (`Page` checks it: 422 naming the
    field)."""
    return Page(after, limit)


AuditPage = Annotated[Page, Depends(audit_page)]


def page_json(member: str, found: Paged[Any]) -> dict[str, Any]:
    """An audit page as JSON: its rows as arrays under `member`, and where the next starts."""
    return {member: [list(row) for row in found.rows], "next_after": found.next_after}


def one_of_in_query(values: list[str]) -> Any:
    return Query(json_schema_extra={"enum": values})


def payment_token() -> Any:
    return documented(enum=sorted(PAYMENT_TOKENS))


def _whole_number(value: Any) -> Any:
    """JSON Schema's `integer` includes 3.0; strict pydantic would refuse it. A whole float
    becomes an int, anything else (a string, a bool, 2.5) still meets the strict check."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer as JSON Schema means it: 3 and 3.0, never "3" or true.
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class StrictBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class LineBody(StrictBody):
    sku: str = identifier()
    quantity: WholeNumber = documented(minimum=1, maximum=MAX_QUANTITY)

    def to_line(self) -> Line:
        return Line(self.sku, self.quantity)
