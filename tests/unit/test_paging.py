"""Audit pages (services/kernel/paging.py): bounded, validated, and saying where the next starts."""

from __future__ import annotations

import pytest

from services.kernel.errors import InvalidRequest
from services.kernel.paging import MAX_PAGE, Page, paged


def test_a_page_reads_one_row_more_than_it_keeps_to_know_whether_another_follows() -> None:
    page = Page(limit=2)
    assert page.fetched == 3
    found = paged(["a", "b", "c"], page, key=str)
    assert (found.rows, found.next_after) == (["a", "b"], "b")
    last = paged(["c"], Page(after="b", limit=2), key=str)
    assert (last.rows, last.next_after) == (["c"], None)
    exact = paged(["a", "b"], page, key=str)
    assert (exact.rows, exact.next_after) == (["a", "b"], None)  # no empty page after it


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE + 1])
def test_a_page_holds_one_to_max_page_rows(limit: int) -> None:
    with pytest.raises(InvalidRequest, match="limit") as refused:
        Page(limit=limit)
    assert refused.value.details == {"field": "limit"}


@pytest.mark.parametrize("after", ["", "x" * 200, "tab\there"])
def test_a_page_starts_after_an_identifier_only(after: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        Page(after=after)
    assert refused.value.details == {"field": "after"}
