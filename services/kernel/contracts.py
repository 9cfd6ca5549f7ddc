"""Shapes and limits that several services agree on (standard library only).

The order service validates a place-order request with these before anything is reserved, and the
payment service decides with the same token table, so the rule exists once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from services.kernel.errors import InvalidRequest

TOKEN_APPROVES: Final = "tok_visa"
TOKEN_DECLINES: Final = "tok_chargeDeclined"
PAYMENT_TOKENS: Final = frozenset({TOKEN_APPROVES, TOKEN_DECLINES})

MAX_LINES: Final = 50
MAX_QUANTITY: Final = 1000
MAX_ID_LENGTH: Final = 64


def identifier_pattern(max_length: int) -> str:
    """Visible ASCII, spaces allowed only inside, 1..max_length characters.

    One regular expression that Python, JSON Schema (ECMA-262) and any client's engine read the
    same way: the OpenAPI documents publish it as it is checked here. ("Printable" in Unicode's
    sense has no portable regular expression, so a schema-driven client could not know it.)"""
    return rf"^[!-~](?:[ -~]{{0,{max_length - 2}}}[!-~])?$"


IDENTIFIER_PATTERN: Final = identifier_pattern(MAX_ID_LENGTH)
_IDENTIFIER: Final = re.compile(IDENTIFIER_PATTERN)


@dataclass(frozen=True)
class Line:
    """One requested line: a SKU and how many units (prices are never taken from a client)."""

    sku: str
    quantity: int


def check_identifier(field: str, value: str) -> None:
    if not _IDENTIFIER.fullmatch(value):
        raise InvalidRequest(
            f"{field} must be 1-{MAX_ID_LENGTH} visible ASCII characters (spaces only inside)",
            field=field,
        )


def check_lines(lines: tuple[Line, ...]) -> None:
    """A non-empty list of distinct SKUs, each with a quantity in 1..MAX_QUANTITY."""
    if not lines:
        raise InvalidRequest("items must contain at least one line", field="items")
    if len(lines) > MAX_LINES:
        raise InvalidRequest(f"items may contain at most {MAX_LINES} lines", field="items")
    seen: set[str] = set()
    for index, line in enumerate(lines):
        check_identifier(f"items[{index}].sku", line.sku)
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvalidRequest(
                f"items[{index}].quantity must be between 1 and {MAX_QUANTITY}",
                field=f"items[{index}].quantity",
            )
        if line.sku in seen:
            raise InvalidRequest(
                f"items[{index}].sku {line.sku!r} appears twice; merge the lines",
                field=f"items[{index}].sku",
            )
        seen.add(line.sku)


def check_payment_token(token: str) -> None:
    if token not in PAYMENT_TOKENS:
        raise InvalidRequest(
            f"payment_token must be one of {sorted(PAYMENT_TOKENS)} (test tokens)",
            field="payment_token",
        )


# --- the seeded catalog: what inventory seeds on every start, and what clients may order ---


@dataclass(frozen=True)
class SeededProduct:
    """A product inventory seeds (its domain's Product is built from it): published here so the
    load harness orders what exists without importing the inventory service."""

    sku: str
    name: str
    price_cents: int
    available: int


# Stock is large for the everyday products so a benchmark never runs dry; POSTER-LTD has exactly
# 10 units (the concurrency demo) and MUG-RETIRED has none (the out-of-stock path).
PLENTY: Final = 1_000_000
SEEDED_CATALOG: Final = (
    SeededProduct("KB-MECH", "Mechanical keyboard", 8999, PLENTY),
    SeededProduct("MOUSE-WL", "Wireless mouse", 2999, PLENTY),
    SeededProduct("MON-27", "27-inch monitor", 24999, PLENTY),
    SeededProduct("CABLE-USBC", "USB-C cable", 999, PLENTY),
    SeededProduct("HEADSET", "Headset with microphone", 5499, PLENTY),
    SeededProduct("POSTER-LTD", "Limited edition poster", 4999, 10),
    SeededProduct("MUG-RETIRED", "Retired team mug", 1299, 0),
)


# --- webhooks: where a place-order request may ask to be called back (webhooks.py signs) ---

MAX_URL_LENGTH: Final = 2048
# The allow-list when ORDERFLOW_WEBHOOK_ALLOWED_HOSTS is unset: this machine only.
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
SCHEMES: Final = frozenset({"http", "https"})
_CALLBACK: Final = "callback_url"


def check_callback_url(url: str, allowed_hosts: frozenset[str]) -> str:
    """Return `url` if a webhook may be sent to it; raise InvalidRequest saying why not."""
    if not 0 < len(url) <= MAX_URL_LENGTH:
        raise InvalidRequest(f"callback_url must be 1-{MAX_URL_LENGTH} characters", field=_CALLBACK)
    # Control characters, spaces and backslashes are parsed differently by different clients.
    if not url.isascii() or not url.isprintable() or " " in url or "\\" in url:
        raise InvalidRequest("callback_url must be printable ASCII with no spaces", field=_CALLBACK)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise InvalidRequest("callback_url is not a valid URL", field=_CALLBACK) from None
    if parts.scheme not in SCHEMES:
        raise InvalidRequest("callback_url must be an http or https URL", field=_CALLBACK)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidRequest("callback_url must not carry user information", field=_CALLBACK)
    if host is None or host not in allowed_hosts:
        raise InvalidRequest(
            f"callback_url host must be one of {sorted(allowed_hosts)}"
            " (ORDERFLOW_WEBHOOK_ALLOWED_HOSTS)",
            field=_CALLBACK,
        )
    return url
