"""The HTTP `Prefer` header (RFC 7240) and the `wait` of a long poll, as the order API reads them.

RFC 7240 makes preferences hints: a server ignores what it does not understand or apply, so an
unreadable preference is skipped, never refused. The `wait` query parameter is our own and is
validated (a bad value is the client's mistake, answered 422).
"""

from __future__ import annotations

import re

from services.kernel.errors import InvalidRequest

RESPOND_ASYNC = "respond-async"
# An extension preference (RFC 7240 §2 lets a server ignore what it does not know): answer at
# once, but run the order by this service's saga rather than the choreography. The harness's
# `rest-sse` variant uses it: REST's orchestrated flow with the status stream instead of the
# synchronous answer.
FLOW = "flow"
ORCHESTRATED = "orchestrated"
ORCHESTRATED_ASYNC = f"{RESPOND_ASYNC}, {FLOW}={ORCHESTRATED}"
MAX_WAIT_S = 30.0  # the longest a long poll holds a request (both spellings, documented)
MAX_PREFER_LENGTH = 1024
# "10", "10s", "2.5s": seconds from 0 to 30, with at most three decimals.
WAIT_PATTERN = r"^(30(\.0{1,3})?|[12]?[0-9](\.[0-9]{1,3})?)s?$"


def optional_string(pattern: str) -> dict[str, object]:
    """The OpenAPI schema of an optional header or query parameter that has a pattern. FastAPI
    writes `str | None` as "string or null", but a header or a query value is never null, and a
    schema-driven client would send the word "null" for it."""
    return {"anyOf": [{"type": "string", "pattern": pattern}]}


def preferences(header: str | None) -> dict[str, str]:
    """The preferences a `Prefer` header names (lower-cased) and their values ("" for none).
    Parameters after `;` are dropped: none of the preferences read here has any."""
    found: dict[str, str] = {}
    if not header or len(header) > MAX_PREFER_LENGTH:
        return found
    for item in header.split(","):
        name, _, value = item.split(";", 1)[0].partition("=")
        name = name.strip().lower()
        if name and name not in found:  # RFC 7240 §2: the first of a repeated preference counts
            found[name] = value.strip().strip('"')
    return found


def orchestrated_async(found: dict[str, str]) -> bool:
    """`Prefer: respond-async, flow=orchestrated`: 202 at once, the saga runs the order."""
    return RESPOND_ASYNC in found and found.get(FLOW) == ORCHESTRATED


def wait_from_query(raw: str | None) -> float | None:
    """`?wait=10s`: seconds, from 0 up to MAX_WAIT_S; anything else raises InvalidRequest."""
    if raw is None:
        return None
    if not re.fullmatch(WAIT_PATTERN, raw) or float(raw.rstrip("s")) > MAX_WAIT_S:
        raise InvalidRequest(
            f"wait must be a number of seconds from 0 to {MAX_WAIT_S:g} (e.g. 10s), got {raw!r}",
            field="wait",
        )
    return float(raw.rstrip("s"))


def wait_from_prefer(found: dict[str, str]) -> float | None:
    """`Prefer: wait=10` (RFC 7240 §4.3: whole seconds), capped at MAX_WAIT_S; ignored when
    unreadable."""
    raw = found.get("wait", "")
    if not raw.isdigit() or len(raw) > 6:
        return None
    return min(float(raw), MAX_WAIT_S)
