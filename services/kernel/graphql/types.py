"""GraphQL shapes that several services' schemas share."""

from __future__ import annotations

import strawberry

from services.kernel.contracts import MAX_LINES, MAX_QUANTITY, Line

LIMITS = f"1-{MAX_QUANTITY} units; 1-{MAX_LINES} lines, each SKU once"


@strawberry.input(description=f"One requested line ({LIMITS}: InvalidInput otherwise).")
class LineInput:
    sku: str
    quantity: int

    def to_line(self) -> Line:
        return Line(self.sku, self.quantity)


def lines_of(items: list[LineInput]) -> tuple[Line, ...]:
    return tuple(item.to_line() for item in items)
