"""Stock conservation under any sequence of reservations and releases (real SQLite store)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.inventory.domain import Product, ReservationStatus
from services.inventory.handlers import InventoryHandlers
from services.inventory.store import InventoryStore
from services.kernel.contracts import Line
from services.kernel.errors import Conflict, Rejected

CATALOG = (Product("A", "a", 100, 5), Product("B", "b", 250, 3), Product("C", "c", 999, 0))
orders = st.sampled_from([f"o{n}" for n in range(8)])
lines = st.dictionaries(st.sampled_from(["A", "B", "C", "Z"]), st.integers(1, 4), min_size=1)


class Inventory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.store = InventoryStore.open(Path(self.folder.name) / "inventory.db")
        self.store.seed(CATALOG)
        self.handlers = InventoryHandlers(self.store)
        self.loop = asyncio.new_event_loop()
        self.held: dict[str, dict[str, int]] = {}  # the model: what each live reservation holds

    @rule(order=orders, wanted=lines)
    def reserve(self, order: str, wanted: dict[str, int]) -> None:
        requested = tuple(Line(sku, quantity) for sku, quantity in wanted.items())
        before = self.store.products()
        try:
            reservation, _ = self.loop.run_until_complete(self.handlers.reserve(order, requested))
        except (Rejected, Conflict):
            assert self.store.products() == before  # refused: nothing moved, not even one line
            return
        if reservation.status is ReservationStatus.RESERVED:
            self.held.setdefault(order, dict(wanted))
            assert {line.sku: line.quantity for line in reservation.lines} == self.held[order]

    @rule(order=orders)
    def release(self, order: str) -> None:
        released = self.loop.run_until_complete(self.handlers.release(order))
        assert released.status is ReservationStatus.RELEASED
        self.held.pop(order, None)

    @invariant()
    def stock_is_conserved_and_never_negative(self) -> None:
        for sku, units in self.store.stock_summary().items():
            model_held = sum(held.get(sku, 0) for held in self.held.values())
            assert units["available"] >= 0
            assert units["held"] == model_held
            assert units["initial"] == units["available"] + units["held"]

    def teardown(self) -> None:
        self.loop.close()
        self.store.close()
        self.folder.cleanup()


Inventory.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestInventoryStock = Inventory.TestCase
