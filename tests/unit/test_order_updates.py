"""Live updates: `follow` moves only forward, whatever order the updates come in (another
replica's arrive late, twice, or after a newer local one: services/order/update_relay.py)."""

from __future__ import annotations

import pytest

from services.kernel.contracts import Line
from services.order import domain
from services.order.domain import OrderLine, PlaceOrder, Status
from services.order.updates import OrderUpdates, TooManyWatchers, follow

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


def test_watchers_beyond_the_bound_are_refused_until_one_ends() -> None:
    updates = OrderUpdates(max_watchers=2)
    with updates.watch("o1"), updates.watch("o1"):
        with pytest.raises(TooManyWatchers) as refused, updates.watch("o2"):
            pass
        assert refused.value.details == {"limit": 2, "retry_after_s": 1}
        assert updates.watched() == ["o1"]  # the refused watch registered nothing
    with updates.watch("o2"):
        assert updates.rooms_taken == 1


def test_a_room_counts_until_released_once_and_its_watch_takes_no_other() -> None:
    updates = OrderUpdates(max_watchers=1)
    room = updates.room()
    with pytest.raises(TooManyWatchers):
        updates.room()
    with updates.watch("o1", room):  # the watch the room was kept for: no second room
        assert updates.rooms_taken == 1
    room.release()  # again, as an adapter's own clean-up does: nothing more is given back
    assert updates.rooms_taken == 0
    updates.room().release()
    assert updates.rooms_taken == 0
