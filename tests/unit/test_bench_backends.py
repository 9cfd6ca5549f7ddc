"""backends.py: the PostgreSQL backends' CPU over a phase, as --store postgres counts it."""

from __future__ import annotations

import pytest

from harness.bench.backends import is_local, used


def test_a_backend_there_throughout_counts_its_difference_a_new_one_its_whole_life() -> None:
    before = {10: 1.0, 11: 2.0, 12: 5.0}
    after = {10: 1.5, 11: 2.25, 13: 0.5}  # 12 ended meanwhile (lost), 13 was born meanwhile
    assert used(before, after) == pytest.approx(0.5 + 0.25 + 0.5)


def test_an_unreadable_end_or_start_is_unknown_not_zero() -> None:
    assert used(None, {1: 1.0}) is None
    assert used({1: 1.0}, None) is None
    assert used({}, {}) == 0.0


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("postgresql://postgres@127.0.0.1:5432/postgres", True),
        ("postgresql://postgres@localhost/postgres", True),
        ("postgresql://postgres@[::1]:5432/postgres", True),
        ("postgresql:///postgres?host=/run/postgresql", True),  # a Unix socket: this machine
        ("postgresql://postgres@db.example:5432/postgres", False),
    ],
)
def test_only_a_server_on_this_machine_can_be_read(url: str, local: bool) -> None:
    assert is_local(url) is local
