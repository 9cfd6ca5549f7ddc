from __future__ import annotations

import pytest

from services.kernel.contracts import MAX_LINES, MAX_QUANTITY, Line
from services.kernel.errors import InvalidRequest
from services.order import domain
from services.order.domain import (
    Compensation,
    IdempotencyMismatch,
    IllegalTransition,
    OrderLine,
    PlaceOrder,
    Reason,
    SagaState,
    Status,
)

NOW = "2026-01-01T00:00:00.000Z"


def command(**changes: object) -> PlaceOrder:
    fields: dict[str, object] = {
        "customer_id": "c1",
        "lines": (Line("KB-MECH", 2), Line("MOUSE-WL", 1)),
        "payment_token": "tok_visa",
        "idempotency_key": "k1",
    }
    fields.update(changes)
    return PlaceOrder(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"customer_id": ""}, "customer_id"),
        ({"customer_id": " padded "}, "customer_id"),
        ({"lines": ()}, "items"),
        ({"lines": (Line("A", 0),)}, "items[0].quantity"),
        ({"lines": (Line("A", -3),)}, "items[0].quantity"),
        ({"lines": (Line("A", MAX_QUANTITY + 1),)}, "items[0].quantity"),
        ({"lines": (Line("A", 1), Line("A", 2))}, "items[1].sku"),
        ({"lines": tuple(Line(f"S{i}", 1) for i in range(MAX_LINES + 1))}, "items"),
        ({"payment_token": "tok_mastercard"}, "payment_token"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
    ],
)
def test_invalid_commands_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        command(**changes).validate()
    assert refused.value.details["field"] == field


def test_a_valid_command_passes_and_a_declining_token_is_valid_input() -> None:
    command().validate()
    command(payment_token="tok_chargeDeclined").validate()


def test_fingerprint_ignores_line_order_and_key_but_not_content() -> None:
    base = command()
    assert base.fingerprint() == command(lines=tuple(reversed(base.lines))).fingerprint()
    assert base.fingerprint() == command(idempotency_key="other").fingerprint()
    assert base.fingerprint() != command(lines=(Line("KB-MECH", 3),)).fingerprint()
    assert base.fingerprint() != command(payment_token="tok_chargeDeclined").fingerprint()


def test_a_callback_url_is_part_of_the_request_and_checked_against_the_allow_list() -> None:
    hooked = command(callback_url="http://127.0.0.1:9099/hook")
    hooked.validate()
    assert hooked.fingerprint() != command().fingerprint()  # a replay must name the same one
    assert domain.new_order("o1", hooked, NOW).callback_url == "http://127.0.0.1:9099/hook"
    with pytest.raises(InvalidRequest, match="callback_url host") as refused:
        command(callback_url="http://example.com/hook").validate()
    assert refused.value.details == {"field": "callback_url"}
    command(callback_url="http://example.com/hook").validate(frozenset({"example.com"}))


def test_replay_with_same_body_returns_the_order_and_different_body_is_refused() -> None:
    order = domain.new_order("o1", command(), NOW)
    assert domain.check_replay(order, command()) is order
    with pytest.raises(IdempotencyMismatch):
        domain.check_replay(order, command(customer_id="someone-else"))


def test_happy_path_prices_from_inventory_and_ends_done() -> None:
    order = domain.new_order("o1", command(), NOW)
    assert order.status is Status.PENDING and order.total_cents is None
    priced = (OrderLine("KB-MECH", 2, 8999), OrderLine("MOUSE-WL", 1, 2999))
    order = domain.reserved(order, priced, NOW)
    assert order.total_cents == 2 * 8999 + 2999
    order = domain.confirmed(domain.paid(order, NOW), NOW)
    assert (order.status, order.saga) == (Status.CONFIRMED, SagaState.DONE)


def test_state_machine_refuses_skipping_or_leaving_a_final_state() -> None:
    order = domain.new_order("o1", command(), NOW)
    with pytest.raises(IllegalTransition):
        domain.paid(order, NOW)
    with pytest.raises(IllegalTransition):
        domain.cancelled(order, Reason.PAYMENT_DECLINED, NOW, Compensation())
    done = domain.rejected(order, Reason.OUT_OF_STOCK, NOW, Compensation())
    with pytest.raises(IllegalTransition):
        domain.reserved(done, (), NOW)


def test_failure_with_pending_compensation_stays_open_until_compensated() -> None:
    order = domain.reserved(
        domain.new_order("o1", command(), NOW), (OrderLine("KB-MECH", 2, 8999),), NOW
    )
    undo = Compensation(release_stock=True, refund_payment=True)
    failed = domain.cancelled(order, Reason.PAYMENT_FAILED, NOW, undo)
    assert (failed.status, failed.saga) == (Status.CANCELLED, SagaState.COMPENSATING)
    half = domain.compensated(failed, NOW, Compensation(release_stock=True))
    assert half.saga is SagaState.COMPENSATING
    assert domain.compensated(half, NOW, Compensation()).saga is SagaState.DONE


def test_rejection_without_compensation_is_done_at_once() -> None:
    order = domain.new_order("o1", command(), NOW)
    rejected = domain.rejected(order, Reason.UNKNOWN_SKU, NOW, Compensation())
    assert (rejected.status, rejected.reason, rejected.saga) == (
        Status.REJECTED,
        Reason.UNKNOWN_SKU,
        SagaState.DONE,
    )
