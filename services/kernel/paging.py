"""A page of an audit view: keyset paging by order id (`?after=<last id>&limit=N`).

Why pages: an audit view lists what a store holds, and a store grows with every run. Read whole,
one request would hold the service's event loop and its memory for as long as the store is large;
a page costs the same however large the store is. Why keyset and not offsets: each page is one
index range scan from the last id a client saw (`id > after ORDER BY id LIMIT n`), so page 100
costs what page 1 does, and rows written between two pages cannot shift the later pages.
Every audit view is keyed by order id: one order, one payment, at most one notification. The
stores ask `id > COALESCE(after, '')` (no id is empty, so '' comes before all of them): an
`after IS NULL OR id > after` would make the database scan from the first id on every page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from services.kernel.contracts import check_identifier
from services.kernel.errors import InvalidRequest

MAX_PAGE: Final = 1000  # rows; a page of audited orders is about 100 KB of JSON
# How an audit view's OpenAPI description says it (the three services' `GET /audit`).
PAGES: Final = (
    f"A page at a time, by order id: at most `limit` rows (1-{MAX_PAGE}, {MAX_PAGE} by default)"
    " whose order id sorts after `after`; `next_after` is the `after` of the next page, null"
    " on the last."
)

Row = TypeVar("Row")


@dataclass(frozen=True)
class Page:
    """Which rows a client asks for: those after `after` (None: from the first), at most `limit`."""

    after: str | None = None
    limit: int = MAX_PAGE

    def __post_init__(self) -> None:
        if self.after is not None:
            check_identifier("after", self.after)
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", field="limit")

    @property
    def fetched(self) -> int:
        """Rows to read: one more than the page, to know whether another page follows."""
        return self.limit + 1


FIRST_PAGE: Final = Page()


@dataclass(frozen=True)
class Paged(Generic[Row]):
    """A page's rows, and the `after` of the next page (None: this was the last)."""

    rows: list[Row]
    next_after: str | None


def paged(rows: Sequence[Row], page: Page, key: Callable[[Row], str]) -> Paged[Row]:
    """Cut what was read (up to `page.fetched` rows, by key) to the page."""
    if len(rows) <= page.limit:
        return Paged(list(rows), None)
    kept = list(rows[: page.limit])
    return Paged(kept, key(kept[-1]))
