"""One guard per downstream service: every call to it goes through the bulkhead, the breaker and
the retries its profile sets. A call is retried only when its outcome is unknown
(`DownstreamUnavailable`: timeout, refused connection, server error), never after an answer, and
never when the breaker or the bulkhead refused it: that is what they are for.

Their refusal is `NotSent`: the service never saw the call, so there is nothing to undo. Only the
first attempt's refusal says so of the whole call; a retry refused after an attempt whose outcome
is unknown is reported as that unknown outcome."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from services.kernel import tracing
from services.kernel.errors import DownstreamUnavailable, NotSent
from services.kernel.resilience.breaker import BreakerState, CircuitBreaker, CircuitOpen
from services.kernel.resilience.bulkhead import Bulkhead, BulkheadFull
from services.kernel.resilience.policy import Resilience
from services.kernel.telemetry import Telemetry

log = logging.getLogger(__name__)

T = TypeVar("T")
STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def _worth_retrying(error: BaseException) -> bool:
    return isinstance(error, DownstreamUnavailable) and not isinstance(error, NotSent)


def guards(
    services: list[str],
    policy: Resilience,
    telemetry: Telemetry,
    answers: tuple[type[Exception], ...] = (),
) -> dict[str, Guard]:
    """One guard per downstream service, sharing one set of metrics (labelled by target).
    `answers` are the errors that are the other side's answer (a refusal), not a failure."""
    families = GuardMetrics(telemetry)
    return {service: Guard(service, policy, families, answers) for service in services}


class Guard:
    def __init__(
        self,
        service: str,
        policy: Resilience,
        families: GuardMetrics,
        answers: tuple[type[Exception], ...] = (),
    ) -> None:
        self.service = service
        self._policy = policy
        self._answers = answers
        self._metrics = _Metrics(families, service)
        self.breaker: CircuitBreaker | None = None
        if policy.breaker_window > 0:
            self.breaker = CircuitBreaker(
                service,
                policy.breaker_window,
                policy.breaker_failure_rate,
                policy.breaker_reset_s,
                on_change=self._metrics.breaker_state,
            )
        self._bulkhead: Bulkhead | None = None
        if policy.bulkhead_limit > 0:
            self._bulkhead = Bulkhead(service, policy.bulkhead_limit, policy.bulkhead_wait_s)

    async def call(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt` once, or again (after a back-off) while its outcome is unknown."""
        if self._policy.retry_attempts == 1:  # nothing to retry: no retry machinery per call
            return await self._once(operation, attempt)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._policy.retry_attempts),
            wait=wait_random_exponential(
                multiplier=self._policy.retry_base_s, max=self._policy.retry_max_s
            ),
            retry=retry_if_exception(_worth_retrying),
            before_sleep=lambda state: self._metrics.retried(operation, state),
            reraise=True,
        )
        tries = 0
        try:
            async for attempt_state in retrying:
                with attempt_state:
                    tries += 1
                    return await self._once(operation, attempt)
        except NotSent as refused:
            if tries == 1:
                raise
            # An earlier try may have reached the service: what it did is unknown, not nothing.
            cause = f"{refused.cause} on try {tries}, after tries whose outcome is unknown"
            raise DownstreamUnavailable(self.service, operation, cause) from refused
        raise AssertionError("tenacity either returns or re-raises")  # pragma: no cover

    async def _once(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        ticket = self._ticket(operation)
        answered: bool | None = None  # None: no outcome (cancelled, or no bulkhead slot)
        try:
            async with self._slot(operation):
                try:
                    result = await attempt()
                except self._answers:  # a refusal is an answer: the service is there
                    answered = True
                    raise
                except Exception:  # no answer, or one that could not be read
                    answered = False
                    raise
                answered = True
                return result
        finally:
            self._judge(ticket, answered)

    def _ticket(self, operation: str) -> int:
        if self.breaker is None:
            return 0
        try:
            return self.breaker.before_call(operation)
        except CircuitOpen:
            # In the order's trace: the call that never left (the saga logs it `not_sent`).
            tracing.mark(f"breaker open: {operation} not sent", {"orderflow.target": self.service})
            raise

    def _judge(self, ticket: int, answered: bool | None) -> None:
        if self.breaker is None:
            return
        if answered is None:
            self.breaker.abandoned(ticket)
        elif answered:
            self.breaker.succeeded(ticket)
        else:
            self.breaker.failed(ticket)

    @contextlib.asynccontextmanager
    async def _slot(self, operation: str) -> AsyncIterator[None]:
        if self._bulkhead is None:
            yield
            return
        try:
            async with self._bulkhead.slot(operation):
                yield
        except BulkheadFull:
            self._metrics.rejected(operation)
            tracing.mark(f"bulkhead full: {operation} not sent", {"orderflow.target": self.service})
            raise


class GuardMetrics:
    """The metric families of every guard of one service's registry."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.state = telemetry.gauge(
            "orderflow_breaker_state",
            "Circuit breaker per downstream service: 0 closed, 1 half-open, 2 open.",
            ["target"],
        )
        self.retries = telemetry.counter(
            "orderflow_retries", "Calls retried after an unknown outcome.", ["target", "operation"]
        )
        self.rejections = telemetry.counter(
            "orderflow_bulkhead_rejections",
            "Calls refused because every bulkhead slot was taken.",
            ["target", "operation"],
        )


class _Metrics:
    def __init__(self, families: GuardMetrics, service: str) -> None:
        self._families = families
        self._service = service
        families.state.labels(service).set(0)

    def breaker_state(self, state: BreakerState) -> None:
        self._families.state.labels(self._service).set(STATE_VALUE[state])
        # In the log too: a workshop watches the breaker open and close in `orderflow up`'s logs.
        log.warning("circuit breaker for %s is now %s", self._service, state.value)

    def retried(self, operation: str, state: RetryCallState) -> None:
        self._families.retries.labels(self._service, operation).inc()
        # In the order's trace, after the failed attempt and before the back-off's wait.
        failed = state.outcome.exception() if state.outcome is not None else None
        tracing.mark(
            f"retry {self._service} {operation}",
            {
                "orderflow.attempt": str(state.attempt_number),
                "orderflow.failed": repr(failed)[:200],
            },
        )

    def rejected(self, operation: str) -> None:
        self._families.rejections.labels(self._service, operation).inc()
