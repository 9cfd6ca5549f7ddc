"""Live updates: `follow` moves only forward, whatever order the updates come in (another
replica's arrive late, twice, or after a newer local one: services/order/update_relay.py)."""

from __future__ import annotations

from services.kernel.contracts import Line
from services.order import domain
from services.order.domain import OrderLine, PlaceOrder, Status
from services.order.updates import OrderUpdates, follow

COMMAND = PlaceOrder("c1", (Line("KB-MECH", 1),), "tok_visa")


async def test_follow_skips_what_the_watcher_has_or_went_past() -> None:
    pending = domain.new_order("o1", COMMAND, "t0")
    reserved = domain.reserved(pending, (OrderLine("KB-MECH", 1, 8999),), "t1")
    paid = domain.paid(reserved, "t2")
    updates = OrderUpdates()
    with updates.watch("o1") as queue:
        assert updates.watching("o1") and updates.watched() == ["o1"]
        for update in (reserved, pending, reserved, paid, reserved, domain.confirmed(paid, "t3")):
            updates.publish(update)
        seen = [order.status async for order in follow(pending, queue)]
    assert seen == [Status.PENDING, Status.RESERVED, Status.PAID, Status.CONFIRMED]
    assert not updates.watching("o1") and updates.watched() == []
