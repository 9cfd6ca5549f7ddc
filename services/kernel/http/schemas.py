"""Request shapes that several REST adapters share.

Pydantic checks only shape and types (strictly: "5" is not a quantity); the business limits
(quantity range, distinct SKUs, known tokens) are checked once, in the domain.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.kernel.contracts import Line


class StrictBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class LineBody(StrictBody):
    sku: str
    quantity: int

    def to_line(self) -> Line:
        return Line(self.sku, self.quantity)
