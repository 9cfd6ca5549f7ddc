"""The harness's shared words come from the kernel: a style or status named there is named here."""

from __future__ import annotations

from harness import vocabulary
from services.kernel import styles


def test_styles_are_the_kernels() -> None:
    assert vocabulary.STYLES == styles.ALL == ("rest", "grpc", "graphql", "websocket", "broker")


def test_terminal_statuses_are_the_published_order_documents() -> None:
    assert {"CONFIRMED", "CANCELLED", "REJECTED"} == vocabulary.TERMINAL


def test_every_count_that_is_not_an_invariant_is_an_audit_count() -> None:
    assert set(vocabulary.AUDIT_COUNTS) >= vocabulary.NOT_INVARIANTS


def test_each_variant_follows_its_style_and_measures_it() -> None:
    assert vocabulary.RUNNABLE == (
        "rest", "rest-sse", "grpc", "graphql", "websocket", "broker", "broker-amqp"
    )  # fmt: skip
    assert [vocabulary.style_of(name) for name in vocabulary.RUNNABLE] == [
        "rest", "rest", "grpc", "graphql", "websocket", "broker", "broker"
    ]  # fmt: skip
