"""The spans orderflow makes by hand where no instrumentation exists: one per store transaction
(at its call site, and around a reaction's unit of work), and a mark where a guarded call was
retried or refused by an open breaker."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Self

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.kernel import tracing
from services.kernel.broker import catalogue as ev
from services.kernel.broker.traced_work import TracedUnitOfWork
from services.kernel.broker.unit_of_work import Received
from services.kernel.errors import DownstreamUnavailable
from services.kernel.resilience.breaker import CircuitOpen
from services.kernel.resilience.guard import guards
from services.kernel.resilience.policy import PROFILES
from services.kernel.telemetry import Telemetry
from tests.tracing_fixture import spans
from tests.unit.fake_unit_of_work import FakeMessages, FakeUoW

__all__ = ["spans"]  # the fixture

FAST = replace(PROFILES["resilient"], retry_base_s=0.001, retry_max_s=0.002)


def named(exported: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [s for s in exported.get_finished_spans() if (s.name or "").startswith(prefix)]


def test_a_transaction_is_a_child_span_named_by_what_it_does(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.span("POST /reservations"), tracing.transaction("inventory.reserve"):
        pass
    (done,) = named(spans, "transaction")
    (request,) = named(spans, "POST")
    assert done.name == "transaction inventory.reserve"
    assert done.attributes == {tracing.TRANSACTION: "inventory.reserve"}
    assert done.parent is not None and done.parent.span_id == request.context.span_id


def test_a_transaction_outside_any_trace_starts_none(spans: InMemorySpanExporter) -> None:
    with tracing.transaction("inventory.seed"):  # start-up, the relay's bookkeeping
        pass
    assert spans.get_finished_spans() == ()


def test_a_transaction_costs_nothing_when_tracing_is_off() -> None:
    assert tracing.transaction("order.place") is tracing.transaction("payment.charge")


def test_a_reactions_unit_of_work_is_a_transaction_span_and_still_commits(
    spans: InMemorySpanExporter,
) -> None:
    messages = FakeMessages()
    with tracing.span("process order.placed"):
        work = TracedUnitOfWork(messages.unit("m-1"), "InventoryHandlers.on_order_placed")
        with work:
            assert not work.already_handled and work.message.id == "m-1"
            work.emit(
                ev.ORDER_VOIDED,
                ev.OrderVoided(order_id="o-1", reason="UNKNOWN_ORDER", detail="test"),
            )
    (done,) = named(spans, "transaction")
    assert done.name == "transaction InventoryHandlers.on_order_placed"
    assert "m-1" in messages.handled and [e.type for e in messages.emitted] == [ev.ORDER_VOIDED]


def test_a_unit_of_work_that_cannot_begin_still_ends_its_span(
    spans: InMemorySpanExporter,
) -> None:
    class Locked(FakeUoW):
        def __enter__(self) -> Self:
            raise sqlite3.OperationalError("database is locked")

    unit = Locked(FakeMessages(), Received("m-2", "order.placed", "c-2"))
    began = TracedUnitOfWork(unit, "on_order_placed")
    with tracing.span("process order.placed"), pytest.raises(sqlite3.OperationalError), began:
        pass
    (done,) = named(spans, "transaction")
    assert done.end_time is not None and not done.status.is_ok


class Down:
    """A downstream call that never answers in time."""

    calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        raise DownstreamUnavailable("payment", "charge", "timed out")


async def test_each_retry_is_marked_in_the_trace_with_the_failure_before_it(
    spans: InMemorySpanExporter,
) -> None:
    guard = guards(["payment"], FAST, Telemetry("order"))["payment"]
    with tracing.span("saga charge"), pytest.raises(DownstreamUnavailable):
        await guard.call("charge", Down())
    marks = named(spans, "retry")
    assert [m.name for m in marks] == ["retry payment charge"] * (FAST.retry_attempts - 1)
    assert [(m.attributes or {})["orderflow.attempt"] for m in marks] == ["1", "2"][: len(marks)]
    assert "timed out" in str((marks[0].attributes or {})["orderflow.failed"])


async def test_a_call_the_open_breaker_refused_is_marked_not_sent(
    spans: InMemorySpanExporter,
) -> None:
    policy = replace(FAST, retry_attempts=1, breaker_window=2, breaker_failure_rate=1.0)
    guard = guards(["payment"], policy, Telemetry("order"))["payment"]
    down = Down()
    for _ in range(2):
        with pytest.raises(DownstreamUnavailable):
            await guard.call("charge", down)
    with tracing.span("saga charge"), pytest.raises(CircuitOpen):
        await guard.call("charge", down)
    (mark,) = named(spans, "breaker open")
    assert mark.name == "breaker open: charge not sent"  # short: a waterfall's row shows it all
    assert mark.attributes == {"orderflow.target": "payment"}
    assert down.calls == 2
