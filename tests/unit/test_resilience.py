"""The resilience patterns of the order service's calls: the breaker's states, the bulkhead's
limit, and a guard that retries only what is worth retrying."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.kernel.config import ConfigError, Settings
from services.kernel.errors import DownstreamUnavailable, NotSent
from services.kernel.resilience.breaker import BreakerState, CircuitBreaker, CircuitOpen
from services.kernel.resilience.bulkhead import Bulkhead, BulkheadFull
from services.kernel.resilience.guard import guards
from services.kernel.resilience.policy import PROFILES
from services.kernel.telemetry import Telemetry
from services.order.downstream.interfaces import ChargeRefused


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read through a call: each assert sees the state anew (mypy narrows)


def call(breaker: CircuitBreaker, answered: bool) -> None:
    """One call through the breaker, with its outcome."""
    ticket = breaker.before_call("charge")
    breaker.succeeded(ticket) if answered else breaker.failed(ticket)


def test_the_breaker_opens_on_a_share_of_failures_and_fails_fast() -> None:
    clock, seen = Clock(), list[BreakerState]()
    breaker = CircuitBreaker("payment", 4, 0.5, 5.0, clock=clock, on_change=seen.append)
    for answered in (False, True, False):  # 2 of 3: not judged before the window is full
        call(breaker, answered)
    assert state(breaker) is BreakerState.CLOSED
    call(breaker, True)  # 2 of the last 4 failed, but a success does not open it
    assert state(breaker) is BreakerState.CLOSED
    call(breaker, False)  # the last 4: ok, fail, ok, fail -> 2 of 4
    assert state(breaker) is BreakerState.OPEN and seen == [BreakerState.OPEN]
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call("charge")
    assert isinstance(refused.value, DownstreamUnavailable)
    assert (refused.value.service, refused.value.operation) == ("payment", "charge")


def test_failures_that_alternate_with_answers_still_open_it() -> None:
    """Every charge times out while every refund answers: failing, though never twice in a
    row; a count of failures in a row would never open."""
    breaker = CircuitBreaker("payment", 10, 0.5, 5.0, clock=Clock())
    calls = 0
    for answered in [False, False, False, True] * 3:
        if state(breaker) is BreakerState.OPEN:
            break
        call(breaker, answered)
        calls += 1
    assert state(breaker) is BreakerState.OPEN and calls == 10  # judged once the window filled


def test_a_mostly_answering_service_keeps_it_closed() -> None:
    breaker = CircuitBreaker("payment", 10, 0.5, 5.0, clock=Clock())
    for _ in range(30):
        for answered in (False, True, True):
            call(breaker, answered)
    assert state(breaker) is BreakerState.CLOSED


def test_after_the_reset_time_one_probe_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker("payment", 1, 1.0, 5.0, clock=clock)
    call(breaker, False)
    clock.now += 4.9
    with pytest.raises(CircuitOpen):
        breaker.before_call("charge")
    clock.now += 0.2
    probe = breaker.before_call("charge")
    assert state(breaker) is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call("charge")  # only one probe at a time
    breaker.failed(probe)  # the probe failed: open again, for another reset time
    assert state(breaker) is BreakerState.OPEN
    clock.now += 5.1
    call(breaker, True)
    assert state(breaker) is BreakerState.CLOSED
    breaker.before_call("charge")


def test_calls_let_through_before_a_change_do_not_decide_after_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker("payment", 2, 1.0, 5.0, clock=clock)
    early = breaker.before_call("charge")  # let through while closed, ends much later
    call(breaker, False)
    call(breaker, False)
    assert state(breaker) is BreakerState.OPEN
    breaker.succeeded(early)  # ending while open: nothing
    assert state(breaker) is BreakerState.OPEN
    clock.now += 5.1
    probe = breaker.before_call("charge")
    breaker.succeeded(early)  # nor while half-open: only the probe decides
    breaker.failed(early)
    assert state(breaker) is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call("charge")  # the probe still runs
    breaker.succeeded(probe)
    assert state(breaker) is BreakerState.CLOSED


def test_a_probe_that_never_finishes_lets_another_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker("payment", 1, 1.0, 5.0, clock=clock)
    call(breaker, False)
    clock.now += 5.1
    breaker.abandoned(breaker.before_call("charge"))  # cancelled, say
    assert state(breaker) is BreakerState.HALF_OPEN
    call(breaker, True)  # a new probe may go
    assert state(breaker) is BreakerState.CLOSED


async def test_the_bulkhead_refuses_a_call_when_every_slot_is_taken() -> None:
    bulkhead = Bulkhead("payment", 2, wait_s=0.0)
    release = asyncio.Event()

    async def occupy() -> None:
        async with bulkhead.slot("charge"):
            await release.wait()

    holders = [asyncio.create_task(occupy()) for _ in range(2)]
    await asyncio.sleep(0.01)
    with pytest.raises(BulkheadFull):
        async with bulkhead.slot("charge"):
            pass
    release.set()
    await asyncio.gather(*holders)
    async with bulkhead.slot("charge"):  # free again
        pass


async def test_a_bulkhead_call_may_wait_a_little_for_a_slot() -> None:
    bulkhead = Bulkhead("payment", 1, wait_s=0.5)
    async with bulkhead.slot("charge"):
        waiting = asyncio.create_task(_enter(bulkhead))
        await asyncio.sleep(0.05)
    await waiting  # got the slot once it was released, within its wait


async def _enter(bulkhead: Bulkhead) -> None:
    async with bulkhead.slot("charge"):
        pass


def metric(telemetry: Telemetry, name: str, **labels: str) -> float:
    text = generate_latest(telemetry.registry).decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


class Flaky:
    """Fails with an unknown outcome `failures` times, then answers."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.calls = 0
        self._failures = failures
        self._error = error or DownstreamUnavailable("payment", "charge", "timed out")

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self._failures:
            raise self._error
        return "charged"


FAST = replace(PROFILES["resilient"], retry_base_s=0.001, retry_max_s=0.002)


async def test_an_unknown_outcome_is_retried_with_back_off_then_answers() -> None:
    telemetry = Telemetry("order")
    guard = guards(["payment"], FAST, telemetry)["payment"]
    flaky = Flaky(2)
    assert await guard.call("charge", flaky) == "charged"
    assert flaky.calls == 3
    assert metric(telemetry, "orderflow_retries_total", target="payment", operation="charge") == 2


async def test_retries_stop_after_the_attempts_the_profile_allows() -> None:
    guard = guards(["payment"], FAST, Telemetry("order"))["payment"]
    flaky = Flaky(10)
    with pytest.raises(DownstreamUnavailable):
        await guard.call("charge", flaky)
    assert flaky.calls == FAST.retry_attempts


async def test_an_answer_is_never_retried_and_keeps_the_breaker_closed() -> None:
    guard = guards(["payment"], FAST, Telemetry("order"), (ChargeRefused,))["payment"]
    refusal = Flaky(10, ChargeRefused("voided"))
    for _ in range(10):
        with pytest.raises(ChargeRefused):
            await guard.call("charge", refusal)
    assert refusal.calls == 10
    assert guard.breaker is not None and state(guard.breaker) is BreakerState.CLOSED


async def test_an_open_breaker_stops_calling_and_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = Telemetry("order")
    policy = replace(FAST, retry_attempts=1, breaker_window=2, breaker_failure_rate=1.0)
    guard = guards(["payment"], policy, telemetry)["payment"]
    down = Flaky(100)
    for _ in range(2):
        with pytest.raises(DownstreamUnavailable):
            await guard.call("charge", down)
    with pytest.raises(CircuitOpen):
        await guard.call("charge", down)
    assert down.calls == 2  # the third never reached the service
    assert metric(telemetry, "orderflow_breaker_state", target="payment") == 2
    assert "circuit breaker for payment is now open" in caplog.messages


async def test_a_refusal_on_the_first_try_says_the_call_never_left() -> None:
    policy = replace(FAST, breaker_window=2, breaker_failure_rate=1.0)
    guard = guards(["payment"], policy, Telemetry("order"))["payment"]
    assert guard.breaker is not None
    for ticket in (guard.breaker.before_call("charge") for _ in range(2)):
        guard.breaker.failed(ticket)
    never_called = Flaky(0)
    with pytest.raises(NotSent):
        await guard.call("charge", never_called)
    assert never_called.calls == 0


async def test_a_retry_refused_after_an_unknown_outcome_is_an_unknown_outcome() -> None:
    """The first try timed out and opened the breaker, which refused the retry. The first try
    may have charged: the caller must hear "unknown", not "never sent"."""
    policy = replace(FAST, retry_attempts=3, breaker_window=1, breaker_failure_rate=1.0)
    guard = guards(["payment"], policy, Telemetry("order"))["payment"]
    timing_out = Flaky(10)
    with pytest.raises(DownstreamUnavailable) as raised:
        await guard.call("charge", timing_out)
    assert not isinstance(raised.value, NotSent)
    assert "circuit breaker open on try 2" in str(raised.value)
    assert timing_out.calls == 1


async def test_the_naive_profile_calls_once_and_never_stops_calling() -> None:
    guard = guards(["payment"], PROFILES["naive"], Telemetry("order"))["payment"]
    down = Flaky(100)
    for _ in range(20):
        with pytest.raises(DownstreamUnavailable):
            await guard.call("charge", down)
    assert down.calls == 20 and guard.breaker is None


async def test_an_answer_that_cannot_be_read_counts_as_a_failure() -> None:
    policy = replace(FAST, retry_attempts=1, breaker_window=2, breaker_failure_rate=1.0)
    guard = guards(["payment"], policy, Telemetry("order"), (ChargeRefused,))["payment"]
    garbled = Flaky(10, KeyError("status"))
    for _ in range(2):
        with pytest.raises(KeyError):
            await guard.call("charge", garbled)
    assert garbled.calls == 2  # not retried: its outcome is not unknown, it is unreadable
    assert guard.breaker is not None and state(guard.breaker) is BreakerState.OPEN


async def test_a_cancelled_probe_does_not_hold_the_breaker_half_open() -> None:
    clock = Clock()
    policy = replace(FAST, retry_attempts=1, breaker_window=1, breaker_failure_rate=1.0)
    guard = guards(["payment"], policy, Telemetry("order"))["payment"]
    assert guard.breaker is not None
    guard.breaker._clock = clock
    with pytest.raises(DownstreamUnavailable):
        await guard.call("charge", Flaky(1))
    clock.now += 10
    hanging = asyncio.create_task(guard.call("charge", _forever))
    await asyncio.sleep(0.01)
    hanging.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hanging
    assert await guard.call("charge", Flaky(0)) == "charged"  # the next probe got through
    assert state(guard.breaker) is BreakerState.CLOSED


async def _forever() -> str:
    await asyncio.Event().wait()
    return "never"


def test_profiles_and_their_overrides_come_from_the_environment() -> None:
    assert Settings.from_env({}).resilience == PROFILES["naive"]
    assert Settings.from_env({}).call_timeout_s == 30.0
    settings = Settings.from_env(
        {"ORDERFLOW_PROFILE": "resilient", "ORDERFLOW_RETRY_ATTEMPTS": "5"}
    )
    assert settings.resilience == replace(PROFILES["resilient"], retry_attempts=5)
    assert settings.call_timeout_s == 1.0
    overrides = {
        "ORDERFLOW_CALL_TIMEOUT_S": "2.5",
        "ORDERFLOW_RETRY_BASE_MS": "20",
        "ORDERFLOW_RETRY_MAX_MS": "400",
        "ORDERFLOW_BREAKER_WINDOW": "0",
        "ORDERFLOW_BREAKER_FAILURE_RATE": "0.8",
        "ORDERFLOW_BREAKER_RESET_S": "9",
        "ORDERFLOW_BULKHEAD_LIMIT": "4",
        "ORDERFLOW_BULKHEAD_WAIT_MS": "0",
    }
    tuned = Settings.from_env({"ORDERFLOW_PROFILE": "resilient", **overrides}).resilience
    assert (tuned.call_timeout_s, tuned.retry_base_s, tuned.retry_max_s) == (2.5, 0.02, 0.4)
    assert (tuned.breaker_window, tuned.breaker_failure_rate, tuned.breaker_reset_s) == (0, 0.8, 9)
    assert (tuned.bulkhead_limit, tuned.bulkhead_wait_s) == (4, 0.0)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("ORDERFLOW_PROFILE", "paranoid", "ORDERFLOW_PROFILE must be one of naive, resilient"),
        ("ORDERFLOW_RETRY_ATTEMPTS", "0", "ORDERFLOW_RETRY_ATTEMPTS must be at least 1"),
        ("ORDERFLOW_RETRY_BASE_MS", "soon", "ORDERFLOW_RETRY_BASE_MS must be a number"),
        ("ORDERFLOW_BULKHEAD_LIMIT", "-1", "ORDERFLOW_BULKHEAD_LIMIT must be between"),
        ("ORDERFLOW_BREAKER_FAILURE_RATE", "0", "ORDERFLOW_BREAKER_FAILURE_RATE must be above 0"),
        ("ORDERFLOW_BREAKER_RESET_S", "nan", "ORDERFLOW_BREAKER_RESET_S must be a number"),
        ("ORDERFLOW_CALL_TIMEOUT_S", "inf", "ORDERFLOW_CALL_TIMEOUT_S must be a number"),
    ],
)
def test_a_bad_resilience_variable_is_named(key: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        Settings.from_env({key: value})
