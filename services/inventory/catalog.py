"""The seeded catalog as inventory's products: deterministic, documented in the README, the
same on every start. Its products are defined once, in the kernel's published contracts
(services/kernel/contracts.py, SEEDED_CATALOG), which the load harness reads too.
"""

from __future__ import annotations

from typing import Final

from services.inventory.domain import Product
from services.kernel.contracts import PLENTY, SEEDED_CATALOG

__all__ = ["PLENTY", "SEED"]

SEED: Final = tuple(
    Product(product.sku, product.name, product.price_cents, product.available)
    for product in SEEDED_CATALOG
)
