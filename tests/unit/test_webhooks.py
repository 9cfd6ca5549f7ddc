"""Webhook signing (Standard Webhooks) and the callback URL rule (services/kernel/webhooks.py)."""

from __future__ import annotations

import pytest

from services.kernel.config import ConfigError, Settings
from services.kernel.contracts import check_callback_url
from services.kernel.errors import InvalidRequest
from services.kernel.webhooks import (
    VerificationError,
    customer_secret,
    decode_secret,
    encode_secret,
    sign,
    verify,
)

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

# The Standard Webhooks specification's example (its reference libraries' test vector).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_specification_example() -> None:
    headers = sign(decode_secret(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_verify_accepts_the_specification_example_within_the_window() -> None:
    key = decode_secret(SPEC_SECRET)
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        # A receiver may be offered several signatures (a secret being rotated).
        "webhook-signature": f"v1,bm90LXRoaXM= {SPEC_SIGNATURE}",
    }
    verify(key, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 10)


@pytest.mark.parametrize("offset", [301, -301, 86400])
def test_verify_refuses_a_timestamp_outside_the_window(offset: int) -> None:
    key = decode_secret(SPEC_SECRET)
    headers = sign(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    with pytest.raises(VerificationError, match="tolerance"):
        verify(key, headers, SPEC_BODY, now=SPEC_TIMESTAMP + offset)


def test_verify_refuses_a_changed_body_or_another_key() -> None:
    key = decode_secret(SPEC_SECRET)
    headers = sign(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    with pytest.raises(VerificationError):
        verify(key, headers, b'{"test": 1}', now=SPEC_TIMESTAMP)
    with pytest.raises(VerificationError):
        verify(b"another key", headers, SPEC_BODY, now=SPEC_TIMESTAMP)
    with pytest.raises(VerificationError):
        verify(key, {"webhook-id": SPEC_ID}, SPEC_BODY, now=SPEC_TIMESTAMP)


def test_customer_secrets_are_derived_and_distinct() -> None:
    first = customer_secret("a master secret of length", "cust-1")
    assert first == customer_secret("a master secret of length", "cust-1")
    assert first != customer_secret("a master secret of length", "cust-2")
    assert first != customer_secret("another master secret!!", "cust-1")
    assert decode_secret(encode_secret(first)) == first


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://localhost/hooks/orders?x=1",
        "http://[::1]:9000/",
        "HTTP://LOCALHOST/upper-case-is-the-same-host",
    ],
)
def test_allowed_callback_urls(url: str) -> None:
    assert check_callback_url(url, LOOPBACK) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hook", "host"),
        ("http://169.254.169.254/latest/meta-data", "host"),  # cloud metadata
        ("http://127.0.0.1.example.com/", "host"),
        ("http://localhost.example.com/", "host"),
        ("http://10.0.0.1/", "host"),
        ("http://2130706433/", "host"),  # 127.0.0.1 as one integer
        ("http://0x7f000001/", "host"),
        ("http://0177.0.0.1/", "host"),
        ("http://[::ffff:127.0.0.1]/", "host"),
        ("http://127.1/", "host"),
        ("http://user:pw@127.0.0.1/", "user information"),
        ("http://example.com@127.0.0.1/", "user information"),
        ("http://127.0.0.1@example.com/", "user information"),
        ("http://127.0.0.1\\@example.com/", "printable"),
        ("http://127.0.0.1/\nHost: x", "printable"),
        ("http://127.0.0.1/ a", "printable"),
        ("http://127.0.0.1:99999/", "valid URL"),
        ("http://[::1/", "valid URL"),
        ("ftp://127.0.0.1/", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("gopher://127.0.0.1:25/", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("//127.0.0.1/", "http or https"),
        ("http:///path-only", "host"),
        ("", "characters"),
        ("http://127.0.0.1/" + "a" * 2048, "characters"),
    ],
)
def test_refused_callback_urls(url: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why) as refused:
        check_callback_url(url, LOOPBACK)
    assert refused.value.details == {"field": "callback_url"}


def test_the_allow_list_is_configured() -> None:
    settings = Settings.from_env({"ORDERFLOW_WEBHOOK_ALLOWED_HOSTS": "Hooks.Example, [::1]"})
    assert settings.webhook_allowed_hosts == frozenset({"hooks.example", "::1"})
    assert check_callback_url("https://hooks.example/x", settings.webhook_allowed_hosts)
    with pytest.raises(InvalidRequest):
        check_callback_url("http://127.0.0.1/x", settings.webhook_allowed_hosts)
    assert Settings.from_env({}).webhook_allowed_hosts == LOOPBACK
    with pytest.raises(ConfigError):
        Settings.from_env({"ORDERFLOW_WEBHOOK_ALLOWED_HOSTS": "a/b"})
    with pytest.raises(ConfigError):
        Settings.from_env({"ORDERFLOW_WEBHOOK_SECRET": "short"})
