"""The seeded catalog: deterministic, documented in the README, the same on every start.

Stock is large for the everyday products so a benchmark never runs dry; POSTER-LTD has exactly 10
units (the concurrency demo) and MUG-RETIRED has none (the out-of-stock path).
"""

from __future__ import annotations

from typing import Final

from services.inventory.domain import Product

PLENTY: Final = 1_000_000

SEED: Final = (
    Product("KB-MECH", "Mechanical keyboard", 8999, PLENTY),
    Product("MOUSE-WL", "Wireless mouse", 2999, PLENTY),
    Product("MON-27", "27-inch monitor", 24999, PLENTY),
    Product("CABLE-USBC", "USB-C cable", 999, PLENTY),
    Product("HEADSET", "Headset with microphone", 5499, PLENTY),
    Product("POSTER-LTD", "Limited edition poster", 4999, 10),
    Product("MUG-RETIRED", "Retired team mug", 1299, 0),
)
