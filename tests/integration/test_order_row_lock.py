"""Two order replicas moving one broker-style order at once (inventory's event on one, payment's
on the other): the choreography reads the order locked (`OrderStore.get_locked`), so the second
waits for the first's save and reads it, instead of saving its own move over it (a lost update
that left orders RESERVED after CONFIRMED: docs/scenarios.md, Replicas)."""

from __future__ import annotations

import pytest

from services.kernel.contracts import Line
from services.kernel.database import DatabaseBusy
from services.order import domain
from services.order.domain import OrderLine, PlaceOrder, Status
from services.order.store import OrderStore

COMMAND = PlaceOrder("c1", (Line("KB-MECH", 1),), "tok_visa", style="broker")
PRICED = (OrderLine("KB-MECH", 1, 8999),)


def test_a_second_replica_cannot_read_an_order_for_its_move_while_the_first_moves_it(
    postgres_url: str,
) -> None:
    first, second = OrderStore.open(postgres_url), OrderStore.open(postgres_url)
    try:
        with first.transaction():
            first.add(domain.new_order("o1", COMMAND, "t0"))
        with first.transaction():
            order = first.get_locked("o1")
            assert order is not None
            # The other replica's move of the same order: it may not read it meanwhile.
            with pytest.raises(DatabaseBusy), second.transaction():
                second.get_locked("o1")
            reserved = domain.reserved(order, PRICED, "t1")
            first.update(domain.confirmed(domain.paid(reserved, "t2"), "t2"))
        with second.transaction():  # run again (as the consumer does): it reads the save
            again = second.get_locked("o1")
        assert again is not None and again.status is Status.CONFIRMED
        assert second.get("o1") == again  # a plain read is not held up
    finally:
        first.close()
        second.close()
