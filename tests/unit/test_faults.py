"""Application faults: what a fault may say, and what `before(operation)` then does."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.kernel.errors import DownstreamUnavailable
from services.kernel.faults import (
    Fault,
    Faults,
    InjectedFailure,
    InjectedUnavailable,
    InvalidFault,
)

OPERATIONS = ("payment.charge", "payment.refund")


def test_a_fault_is_parsed_from_json_with_defaults() -> None:
    assert Fault.parse({}) == Fault()
    assert Fault.parse({"latency_ms": 200, "jitter_ms": 50.5}) == Fault(
        latency_ms=200.0, jitter_ms=50.5
    )
    fault = Fault.parse({"error_rate": 0.25, "error": "permanent", "hang": False})
    assert (fault.error_rate, fault.error, fault.hang) == (0.25, "permanent", False)
    assert Fault.parse(fault.to_json()) == fault


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ([], "a JSON object"),
        ({"latency": 10}, "unknown field(s) ['latency']"),
        ({"latency_ms": -1}, "latency_ms must be a number from 0"),
        ({"latency_ms": "10"}, "latency_ms"),
        ({"latency_ms": True}, "latency_ms"),
        ({"jitter_ms": 10_000_000}, "jitter_ms"),
        ({"error_rate": 1.5}, "error_rate must be a number from 0 to 1"),
        ({"error": "sometimes"}, "error must be one of"),
        ({"hang": "yes"}, "hang must be true or false"),
    ],
)
def test_a_fault_that_cannot_be_set_names_the_field(data: object, names: str) -> None:
    with pytest.raises(InvalidFault) as refused:
        Fault.parse(data)
    assert names in str(refused.value)


async def test_no_fault_no_effect() -> None:
    faults = Faults(OPERATIONS)
    started = time.monotonic()
    for _ in range(100):
        await faults.before("payment.charge")
    assert time.monotonic() - started < 0.5


async def test_latency_is_added_before_the_operation() -> None:
    faults = Faults(OPERATIONS)
    faults.set("payment.charge", Fault(latency_ms=150))
    started = time.monotonic()
    await faults.before("payment.charge")
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    await faults.before("payment.refund")  # another operation: untouched
    assert time.monotonic() - started < 0.1


async def test_errors_are_transient_or_permanent_at_the_rate_asked() -> None:
    faults = Faults(OPERATIONS, seed=7)
    faults.set("payment.charge", Fault(error_rate=1.0))
    with pytest.raises(InjectedUnavailable) as unavailable:
        await faults.before("payment.charge")
    # Every edge maps it like a service that could not answer (503, UNAVAILABLE, retry).
    assert isinstance(unavailable.value, DownstreamUnavailable)
    assert (unavailable.value.service, unavailable.value.operation) == ("payment", "charge")
    faults.set("payment.charge", Fault(error_rate=1.0, error="permanent"))
    with pytest.raises(InjectedFailure):
        await faults.before("payment.charge")
    faults.set("payment.charge", Fault(error_rate=0.3))
    failed = 0
    for _ in range(1000):
        try:
            await faults.before("payment.charge")
        except InjectedUnavailable:
            failed += 1
    assert 230 <= failed <= 370


async def test_a_hang_never_answers_until_cancelled() -> None:
    faults = Faults(OPERATIONS)
    faults.set("payment.refund", Fault(hang=True))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(faults.before("payment.refund"), 0.2)


async def test_clearing_a_hang_lets_the_calls_it_held_go_on() -> None:
    faults = Faults(OPERATIONS)
    faults.set("payment.charge", Fault(hang=True))
    held = [asyncio.create_task(faults.before("payment.charge")) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in held)
    faults.clear()
    await asyncio.wait_for(asyncio.gather(*held), 1.0)


async def test_a_hang_replaced_by_another_fault_goes_on_under_it() -> None:
    faults = Faults(OPERATIONS)
    faults.set("payment.charge", Fault(hang=True))
    held = asyncio.create_task(faults.before("payment.charge"))
    await asyncio.sleep(0.05)
    faults.set("payment.charge", Fault(error_rate=1.0))
    with pytest.raises(InjectedUnavailable):
        await asyncio.wait_for(held, 1.0)


async def test_jitter_adds_a_random_part_up_to_its_bound() -> None:
    faults = Faults(OPERATIONS, seed=3)
    faults.set("payment.charge", Fault(latency_ms=10, jitter_ms=80))
    took = []
    for _ in range(8):
        started = time.monotonic()
        await faults.before("payment.charge")
        took.append(time.monotonic() - started)
    assert min(took) >= 0.01
    assert max(took) - min(took) >= 0.02  # not a fixed delay


async def test_clearing_one_or_all_and_unknown_operations() -> None:
    faults = Faults(OPERATIONS)
    faults.set("payment.charge", Fault(error_rate=1.0))
    faults.set("payment.refund", Fault(latency_ms=5))
    faults.clear("payment.charge")
    await faults.before("payment.charge")
    assert list(faults.active()) == ["payment.refund"]
    faults.clear()
    assert faults.active() == {}
    with pytest.raises(InvalidFault, match=r"no operation 'inventory\.reserve' here"):
        faults.set("inventory.reserve", Fault())
