"""The identifier rule (ids, SKUs, customer ids, reasons; Idempotency-Key with a longer limit):
written once as a regular expression that the domain checks and OpenAPI publishes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.kernel.contracts import (
    IDENTIFIER_PATTERN,
    MAX_ID_LENGTH,
    check_identifier,
    identifier_pattern,
)
from services.kernel.errors import InvalidRequest
from services.kernel.http.schemas import IDENTIFIER_LIMITS
from services.order.domain import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY


def as_stated(value: str, max_length: int = MAX_ID_LENGTH) -> bool:
    """The rule in words: 1..max_length visible ASCII characters, spaces only inside."""
    return (
        1 <= len(value) <= max_length
        and all(" " <= char <= "~" for char in value)
        and not value.startswith(" ")
        and not value.endswith(" ")
    )


def accepted(value: str) -> bool:
    try:
        check_identifier("id", value)
    except InvalidRequest:
        return False
    return True


@given(st.text(max_size=80) | st.text(st.characters(min_codepoint=0, max_codepoint=0x7F)))
def test_the_domain_accepts_exactly_what_the_rule_states(value: str) -> None:
    assert accepted(value) == as_stated(value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a", True),
        ("KB-MECH", True),
        ("a b", True),
        ("x" * MAX_ID_LENGTH, True),
        ("x" * (MAX_ID_LENGTH + 1), False),
        ("", False),
        (" a", False),
        ("a ", False),
        ("a\n", False),  # Python's `$` alone would let a trailing newline through
        ("a\tb", False),
        ("café", False),
        ("\u200b", False),
    ],
)
def test_boundaries(value: str, ok: bool) -> None:
    assert accepted(value) is ok


def test_openapi_publishes_the_pattern_the_domain_checks() -> None:
    assert IDENTIFIER_LIMITS == {
        "minLength": 1,
        "maxLength": MAX_ID_LENGTH,
        "pattern": IDENTIFIER_PATTERN,
    }
    assert identifier_pattern(MAX_ID_LENGTH) == IDENTIFIER_PATTERN
    assert identifier_pattern(MAX_IDEMPOTENCY_KEY) == IDEMPOTENCY_KEY_PATTERN
