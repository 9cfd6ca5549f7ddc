"""The saga under any mix of transient failures and lost answers ends consistent.

Hypothesis picks which downstream calls fail (before acting, or after acting with the answer
lost); recovery then runs until no saga is open, as the background loop would. Whatever the mix,
an order ends CONFIRMED with its stock held and money taken, or ended otherwise with both given
back, and nothing is ever charged twice.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from services.kernel.contracts import Line
from services.kernel.telemetry import Telemetry
from services.order.domain import Order, PlaceOrder, SagaState, Status
from services.order.downstream.interfaces import ChargeStatus, Downstream
from services.order.handlers import OrderHandlers
from services.order.saga import Saga
from services.order.store import OrderStore
from tests.unit.fakes import FakeInventory, FakeNotifier, FakePayment, Outage

STOCK = 10


@settings(max_examples=150, deadline=None)
@given(
    reserve_outage=st.integers(0, 2),
    release_outage=st.integers(0, 3),
    lose_reservation=st.booleans(),
    payment_outage=st.integers(0, 3),
    lose_charge=st.booleans(),
    token=st.sampled_from(["tok_visa", "tok_chargeDeclined"]),
    quantity=st.integers(1, STOCK + 1),
)
def test_every_order_ends_consistent(
    reserve_outage: int,
    release_outage: int,
    lose_reservation: bool,
    payment_outage: int,
    lose_charge: bool,
    token: str,
    quantity: int,
) -> None:
    inventory = FakeInventory({"SKU": STOCK}, {"SKU": 100}, outage=Outage(reserve_outage))
    inventory.release_outage = Outage(release_outage)
    inventory.lose_answer_once = lose_reservation
    payment = FakePayment(outage=Outage(payment_outage), lose_answer_once=lose_charge)
    with tempfile.TemporaryDirectory() as folder:
        store = OrderStore.open(Path(folder) / "order.db")
        saga = Saga(store, Downstream(inventory, payment, FakeNotifier()), Telemetry("order"))
        handlers = OrderHandlers(store, saga)
        order = asyncio.run(drive(handlers, PlaceOrder("c", (Line("SKU", quantity),), token)))
        store.close()

    assert order.saga is SagaState.DONE and order.is_terminal
    charges = [c for c in payment.calls if c.startswith("charge:")]
    held = STOCK - inventory.stock["SKU"]
    if order.status is Status.CONFIRMED:
        assert payment.charges[order.id] is ChargeStatus.CHARGED and held == quantity
    else:
        assert payment.charges.get(order.id) is not ChargeStatus.CHARGED and held == 0
    assert len(set(charges)) <= 1  # every attempt was for the same order and amount


async def drive(handlers: OrderHandlers, command: PlaceOrder) -> Order:
    placed, _ = await handlers.place_order(command)
    for _ in range(10):  # the background loop's passes
        if not await handlers.recover():
            break
    return await handlers.get_order(placed.id)
