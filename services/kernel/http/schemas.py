"""Request shapes that several REST adapters share.

Pydantic checks only shape and types (strictly: "5" is not a quantity); the business limits
(quantity range, distinct SKUs, known tokens) are checked once, in the domain.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.kernel.contracts import MAX_ID_LENGTH, MAX_QUANTITY, PAYMENT_TOKENS, Line


def documented(**limits: Any) -> Any:
    """A required field whose limits OpenAPI shows but only the domain enforces: one rule, one
    place, and the domain's messages name the field and the limit."""
    return Field(json_schema_extra=limits)


def identifier() -> Any:
    return documented(minLength=1, maxLength=MAX_ID_LENGTH)


def payment_token() -> Any:
    return documented(enum=sorted(PAYMENT_TOKENS))


class StrictBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class LineBody(StrictBody):
    sku: str = identifier()
    quantity: int = documented(minimum=1, maximum=MAX_QUANTITY)

    def to_line(self) -> Line:
        return Line(self.sku, self.quantity)
