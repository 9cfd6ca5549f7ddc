"""RFC 7240 `Prefer` as the order API reads it, and the long poll's `wait` parameter."""

from __future__ import annotations

import pytest

from services.kernel.errors import InvalidRequest
from services.order.api.prefer import (
    MAX_WAIT_S,
    orchestrated_async,
    preferences,
    wait_from_prefer,
    wait_from_query,
)


def test_preferences_as_rfc_7240_writes_them() -> None:
    # RFC 7240 §2's own examples, and a repeated preference (the first counts).
    assert preferences("respond-async, wait=100") == {"respond-async": "", "wait": "100"}
    assert preferences('foo; bar, Respond-Async ; x="1", wait = 5') == {
        "foo": "",
        "respond-async": "",
        "wait": "5",
    }
    assert preferences("wait=1, wait=9") == {"wait": "1"}
    assert preferences(None) == {} == preferences("") == preferences("x" * 2000)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("wait=10", 10.0), ("wait=600", MAX_WAIT_S), ("wait=soon", None), ("wait=1.5", None)],
)
def test_prefer_wait_is_capped_and_an_unreadable_one_ignored(
    header: str, seconds: float | None
) -> None:
    assert wait_from_prefer(preferences(header)) == seconds


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("10s", 10.0), ("10", 10.0), ("2.5s", 2.5), ("0", 0.0), ("30", 30.0), (None, None)],
)
def test_query_wait_in_seconds(raw: str | None, seconds: float | None) -> None:
    assert wait_from_query(raw) == seconds


@pytest.mark.parametrize("raw", ["30.5s", "31", "-1", "soon", "", "1e3", "10ms", "1.2345"])
def test_a_query_wait_out_of_bounds_or_unreadable_is_refused(raw: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        wait_from_query(raw)
    assert refused.value.details == {"field": "wait"}


@pytest.mark.parametrize(
    ("header", "orchestrated"),
    [
        ("respond-async, flow=orchestrated", True),
        ("flow=orchestrated, respond-async", True),
        ("respond-async", False),  # the choreography's 202
        ("flow=orchestrated", False),  # no respond-async: the synchronous answer
        ("respond-async, flow=choreographed", False),
    ],
)
def test_the_orchestrated_async_flow_needs_both_preferences(
    header: str, orchestrated: bool
) -> None:
    assert orchestrated_async(preferences(header)) is orchestrated
