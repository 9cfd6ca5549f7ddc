from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kernel.contracts import TOKEN_APPROVES, TOKEN_DECLINES
from services.kernel.database import ConstraintViolation
from services.payment.domain import ChargeRequest, PaymentStatus
from services.payment.store import PaymentStore


@pytest.fixture
def path(store_location: Path | str) -> Path | str:
    return store_location


@pytest.fixture
def store(path: Path | str) -> Iterator[PaymentStore]:
    opened = PaymentStore.open(path)
    yield opened
    opened.close()


def charge(order_id: str, amount: int = 1000, token: str = TOKEN_APPROVES) -> ChargeRequest:
    return ChargeRequest(order_id, "cust-1", amount, token)


def test_a_recorded_payment_reads_back_identically(store: PaymentStore) -> None:
    with store.transaction():
        added = store.add_payment(charge("ord-1"), PaymentStatus.CHARGED)
    assert store.payment("ord-1") == added
    assert added.token == TOKEN_APPROVES
    assert added.created_at == added.updated_at


def test_missing_payment_is_none(store: PaymentStore) -> None:
    assert store.payment("nope") is None


def test_a_second_row_for_one_order_is_impossible(store: PaymentStore) -> None:
    with store.transaction():
        store.add_payment(charge("ord-1"), PaymentStatus.CHARGED)
    with pytest.raises(ConstraintViolation), store.transaction():
        store.add_payment(charge("ord-1"), PaymentStatus.CHARGED)
    assert store.summary()["CHARGED"] == 1


def test_void_marker_has_no_customer_and_no_amount(store: PaymentStore) -> None:
    with store.transaction():
        store.add_void_marker("ord-9")
    marker = store.payment("ord-9")
    assert marker is not None
    assert (marker.status, marker.customer_id, marker.amount_cents, marker.token) == (
        PaymentStatus.VOIDED,
        None,
        0,
        None,
    )


def test_set_status_moves_updated_at_only(store: PaymentStore) -> None:
    with store.transaction():
        added = store.add_payment(charge("ord-1"), PaymentStatus.CHARGED)
        store.set_status("ord-1", PaymentStatus.REFUNDED)
    refunded = store.payment("ord-1")
    assert refunded is not None
    assert refunded.status is PaymentStatus.REFUNDED
    assert refunded.created_at == added.created_at
    assert refunded.updated_at >= added.updated_at


def test_summary_counts_every_status_and_the_cents_still_charged(store: PaymentStore) -> None:
    assert store.summary() == {
        "CHARGED": 0,
        "DECLINED": 0,
        "REFUNDED": 0,
        "VOIDED": 0,
        "charged_cents": 0,
    }
    with store.transaction():
        store.add_payment(charge("a", 1000), PaymentStatus.CHARGED)
        store.add_payment(charge("b", 250), PaymentStatus.CHARGED)
        store.add_payment(charge("c", 400, TOKEN_DECLINES), PaymentStatus.DECLINED)
        store.add_payment(charge("d", 700), PaymentStatus.CHARGED)
        store.set_status("d", PaymentStatus.REFUNDED)
        store.add_void_marker("e")
    assert store.summary() == {
        "CHARGED": 2,
        "DECLINED": 1,
        "REFUNDED": 1,
        "VOIDED": 1,
        "charged_cents": 1250,
    }


def test_a_failed_transaction_writes_nothing(store: PaymentStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.add_payment(charge("ord-1"), PaymentStatus.CHARGED)
        raise RuntimeError("boom")
    assert store.payment("ord-1") is None


def test_payments_survive_a_reopen(store: PaymentStore, path: Path | str) -> None:
    with store.transaction():
        store.add_payment(charge("ord-1"), PaymentStatus.CHARGED)
    store.close()
    reopened = PaymentStore.open(path)
    try:
        found = reopened.payment("ord-1")
        assert found is not None
        assert found.status is PaymentStatus.CHARGED
    finally:
        reopened.close()
    # The fixture closes `store` again; closing twice is harmless for either driver.


def test_is_reachable_until_closed(path: Path | str) -> None:
    opened = PaymentStore.open(path)
    assert opened.is_reachable()
    opened.close()
    assert not opened.is_reachable()
