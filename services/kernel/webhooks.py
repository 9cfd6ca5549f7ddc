"""Webhooks: which callback URLs are allowed, and how a delivery is signed and verified.

The rule for a callback URL is written once, in contracts.py (the domains apply it; they may
import only the kernel's pure parts); every place-order edge maps its `InvalidRequest` through
its own error map. A webhook must not
become a way to make the services call anywhere, so a URL names a host of a configured allow-list
(loopback by default) and nothing is resolved while checking: the host is compared as written.

Signing follows the Standard Webhooks specification (standardwebhooks.com): headers `webhook-id`,
`webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
It is a few lines of the standard library, tested against the specification's own example. Each
customer's secret is derived from one master secret (HMAC(master, customer_id)), so nothing per
customer is stored; a receiver is given its secret as `whsec_<base64>` (`python -m
services.kernel.webhooks secret CUSTOMER_ID` with ORDERFLOW_WEBHOOK_SECRET set).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
import time
from collections.abc import Mapping
from typing import Final

SECRET_PREFIX: Final = "whsec_"
TOLERANCE_S: Final = 300  # the specification's suggested replay window, either side of now


def customer_secret(master: str, customer_id: str) -> bytes:
    """The key a customer's webhooks are signed with (derived, so nothing is stored)."""
    return hmac.new(master.encode(), customer_id.encode(), hashlib.sha256).digest()


def encode_secret(key: bytes) -> str:
    """The form a receiver is given and most Standard Webhooks libraries take."""
    return SECRET_PREFIX + base64.b64encode(key).decode()


def decode_secret(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a delivery of `body`."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, msg_id, timestamp, body),
    }


class VerificationError(Exception):
    """A delivery that must not be trusted: bad signature, or a timestamp out of the window."""


def verify(
    key: bytes, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """The receiver's side: check the signature and refuse a replay (an old timestamp)."""
    try:
        msg_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        offered = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        raise VerificationError("missing or malformed webhook headers") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_S:
        raise VerificationError("timestamp outside the tolerance: a replay or a skewed clock")
    expected = signature(key, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise VerificationError("no matching signature")


def main(argv: list[str]) -> int:
    """`secret CUSTOMER_ID`: print the customer's `whsec_` secret for its receiver."""
    from services.kernel.config import Settings

    if len(argv) != 2 or argv[0] != "secret":
        print("usage: python -m services.kernel.webhooks secret CUSTOMER_ID", file=sys.stderr)
        return 2
    master = Settings.from_env().webhook_master_secret
    print(encode_secret(customer_secret(master, argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
