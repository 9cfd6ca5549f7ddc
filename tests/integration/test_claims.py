"""Claims with a lease (services/kernel/lease.py) as replicas take them on one database, on both
back ends: an unfinished saga, an owed notification and an outbox row are each held by one
replica at a time, and a lapsed lease leaves them to another. Two stores on one database are
two replicas (two connections, two ids); time is a clock the test moves, not a wait."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.kernel.broker import catalogue as ev
from services.kernel.broker.events import new_event
from services.kernel.contracts import Line
from services.kernel.lease import Lease
from services.order import domain
from services.order.domain import Compensation, Order, OrderLine, PlaceOrder, Reason
from services.order.store import ClaimLost, OrderStore

LEASE_S = 10.0
PRICED = (OrderLine("KB-MECH", 2, 8999),)


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replicas(store_location: Path | str, clock: Clock) -> Iterator[tuple[Replica, Replica]]:
    first = Replica(OrderStore.open(store_location), Lease("replica-a", LEASE_S, clock))
    second = Replica(OrderStore.open(store_location), Lease("replica-b", LEASE_S, clock))
    yield first, second
    first.store.close()
    second.store.close()


@dataclass
class Replica:
    store: OrderStore
    lease: Lease

    def place(self, order_id: str, style: str = "rest") -> Order:
        command = PlaceOrder("c1", (Line("KB-MECH", 2),), "tok_visa", style=style)
        order = domain.new_order(order_id, command, "t0")
        with self.store.transaction():
            self.store.add(order, self.lease)
        return order

    def save(self, order: Order) -> None:
        with self.store.transaction():
            self.store.update(order, self.lease)

    def recoverable(self) -> list[str]:
        return [order.id for order in self.store.unfinished(self.lease)]


def test_a_saga_is_claimed_by_one_replica_until_its_lease_lapses(
    replicas: tuple[Replica, Replica], clock: Clock
) -> None:
    a, b = replicas
    a.place("o1")  # recorded claimed: the saga its placer starts
    assert not b.store.claim("o1", b.lease) and b.recoverable() == []
    assert a.store.claim("o1", a.lease)  # its holder may take it again (a renewal)
    clock.now += LEASE_S / 2
    assert a.store.renew_claims(["o1"], a.lease) == []  # none lost
    clock.now += LEASE_S * 0.9  # past the first lease, within the renewed one
    assert not b.store.claim("o1", b.lease) and b.recoverable() == []
    clock.now += LEASE_S  # a stopped renewing (it died): its claim lapses
    assert b.recoverable() == ["o1"] and b.store.claim("o1", b.lease)
    assert not a.store.claim("o1", a.lease) and a.store.renew_claims(["o1"], a.lease) == ["o1"]


def test_a_replica_taken_over_saves_nothing_and_the_end_of_a_saga_drops_its_claim(
    replicas: tuple[Replica, Replica], clock: Clock
) -> None:
    a, b = replicas
    order = a.place("o1")
    reserved = domain.reserved(order, PRICED, "t1")
    a.save(reserved)  # held: saved, and the claim renewed
    clock.now += LEASE_S + 1
    assert b.store.claim("o1", b.lease)
    late = domain.cancelled(reserved, Reason.PAYMENT_FAILED, "t2", Compensation(True, True))
    with pytest.raises(ClaimLost):
        a.save(late)  # its saga's own view, stale now: refused, and nothing of it written
    assert a.store.get("o1") == reserved
    assert [change.status for change in a.store.status_changes("o1")] == ["PENDING", "RESERVED"]
    b.save(domain.confirmed(domain.paid(reserved, "t3"), "t3"))
    assert b.store.get("o1").status == "CONFIRMED"  # type: ignore[union-attr]
    # Finished: nobody holds it, and nobody can claim it.
    assert not a.store.claim("o1", a.lease) and not b.store.claim("o1", b.lease)
    assert a.recoverable() == [] and b.recoverable() == []


def test_a_stopped_saga_releases_its_claim_for_anyone_at_once(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    a.place("o1")
    a.place("o2")
    b.store.release_claim("o1", b.lease)  # not b's to release
    assert b.recoverable() == []
    a.store.release_claim("o1", a.lease)  # its compensation must wait, or a shutdown
    assert b.recoverable() == ["o1"]
    assert a.store.claim_holders() == ["replica-a"]
    assert a.store.release_claims("replica-a") == 1  # a restart of "replica-a": o2 is free
    assert b.recoverable() == ["o1", "o2"] and a.store.claim_holders() == []


def test_a_broker_style_order_is_never_claimed_for_a_saga(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    a.place("o-broker", style="broker")
    assert not b.store.claim("o-broker", b.lease) and b.recoverable() == []


def test_an_owed_notification_is_delivered_by_one_replica_at_a_time(
    replicas: tuple[Replica, Replica], clock: Clock
) -> None:
    a, b = replicas
    for n in range(5):
        a.place(f"o{n}")
        with a.store.transaction():
            a.store.owe_notification(f"o{n}", f"t{n}", f"corr-{n}")
    assert a.store.claim_notifications(3, a.lease) == [(f"o{n}", f"corr-{n}") for n in range(3)]
    assert b.store.claim_notifications(10, b.lease) == [("o3", "corr-3"), ("o4", "corr-4")]
    # Asked again (its next round), a replica gets its own again, none of the other's.
    assert b.store.claim_notifications(10, b.lease) == [("o3", "corr-3"), ("o4", "corr-4")]
    with a.store.transaction():
        a.store.release_notifications(["o1"], a.lease)  # not delivered this time
    with b.store.transaction():
        b.store.release_notifications(["o2"], b.lease)  # not b's
    assert [owed for owed, _ in b.store.claim_notifications(10, b.lease)] == ["o1", "o3", "o4"]
    clock.now += LEASE_S + 1  # every claim lapsed: the oldest first, to whoever asks
    assert a.store.claim_notifications(10, a.lease) == [(f"o{n}", f"corr-{n}") for n in range(5)]


def test_an_outbox_row_is_relayed_by_one_replica_at_a_time(
    replicas: tuple[Replica, Replica], clock: Clock
) -> None:
    a, b = replicas
    events = [new_event(ev.ORDER_PLACED, "order", {"n": n}, f"c-{n}") for n in range(5)]
    with a.store.transaction():
        for event in events:
            a.store.messages.emit(event)
    first = a.store.messages.claim(a.lease, limit=2)
    rest = b.store.messages.claim(b.lease, limit=10)
    assert [row.event_id for row in first + rest] == [event.id for event in events]
    assert a.store.messages.claim(a.lease) == []
    a.store.messages.mark_published([first[0].seq])
    a.store.messages.release([first[1].seq], a.lease)  # not confirmed: anyone's again
    assert [row.event_id for row in b.store.messages.claim(b.lease)] == [events[1].id]
    clock.now += LEASE_S + 1  # b died before its confirms: its rows are a's to publish again
    assert [row.event_id for row in a.store.messages.claim(a.lease)] == [
        event.id for event in events[1:]
    ]
    assert a.store.messages.backlog() == 4


def test_a_relay_starting_frees_the_rows_of_relays_known_to_be_gone(
    replicas: tuple[Replica, Replica], clock: Clock
) -> None:
    a, b = replicas
    with a.store.transaction():
        for n in range(3):
            a.store.messages.emit(new_event(ev.ORDER_PLACED, "order", {"n": n}, f"c-{n}"))
    gone = Lease(f"{socket.gethostname()}:{ended_pid()}", LEASE_S, clock)  # died, this host
    assert len(a.store.messages.claim(gone, limit=1)) == 1
    assert len(a.store.messages.claim(a.lease, limit=1)) == 1  # a: its own id, restarting
    assert len(b.store.messages.claim(b.lease, limit=1)) == 1  # b: alive elsewhere
    assert a.store.messages.void_claims_of_the_gone(a.lease) == 2
    assert len(a.store.messages.claim(a.lease)) == 2  # the dead one's and its own, not b's


def ended_pid() -> int:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(ended.stdout)
