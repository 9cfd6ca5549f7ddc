"""A circuit breaker, small enough to read at once.

Closed: calls pass, and the outcomes of the last `window` calls are kept; once there are that
many and the share of failures among them reaches `failure_rate`, it opens. (A share, not a run
of failures in a row: a service whose every charge times out while its refunds still answer is
failing, though it never fails twice in a row.) Open: calls fail at once (`CircuitOpen`) until
`reset_s` has passed; then it is half-open: one probe call passes (others still fail fast). The
probe's success closes it, its failure opens it again for another `reset_s`. Only failures to get
an answer count (timeouts, refused connections, server errors); a business refusal is an answer
and counts as a success.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from services.kernel.errors import NotSent


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(NotSent):
    """Refused without calling: the breaker of that downstream service is open."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(service, operation, "circuit breaker open")


class CircuitBreaker:
    def __init__(
        self,
        service: str,
        window: int,
        failure_rate: float,
        reset_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] = lambda state: None,
    ) -> None:
        self.service = service
        self.state = BreakerState.CLOSED
        self._failure_rate = failure_rate
        self._reset_s = reset_s
        self._clock = clock
        self._on_change = on_change
        self._outcomes: deque[bool] = deque(maxlen=window)  # True: an answer
        self._opened_at = 0.0
        self._probing = False
        self._generation = 0  # bumped by every change of state

    def before_call(self, operation: str) -> int:
        """Raise CircuitOpen unless this call may go ahead; else a ticket for its outcome."""
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._reset_s:
                raise CircuitOpen(self.service, operation)
            self._become(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN:
            if self._probing:
                raise CircuitOpen(self.service, operation)
            self._probing = True
        return self._generation

    # A ticket from before the last change of state is stale: a call let through while closed
    # that ends while half-open must neither close the breaker nor open it again.

    def succeeded(self, ticket: int) -> None:
        if ticket != self._generation:
            return
        if self.state is BreakerState.CLOSED:
            self._outcomes.append(True)
        elif self.state is BreakerState.HALF_OPEN:  # the probe answered
            self._become(BreakerState.CLOSED)

    def failed(self, ticket: int) -> None:
        if ticket != self._generation:
            return
        if self.state is BreakerState.HALF_OPEN:
            self._open()
        elif self.state is BreakerState.CLOSED:
            self._outcomes.append(False)
            full = len(self._outcomes) == self._outcomes.maxlen
            if full and self._outcomes.count(False) >= self._failure_rate * len(self._outcomes):
                self._open()

    def abandoned(self, ticket: int) -> None:
        """The call ended with no outcome (cancelled, or refused by the bulkhead): a probe
        that never finished must not keep the breaker half-open for good."""
        if ticket == self._generation and self.state is BreakerState.HALF_OPEN:
            self._probing = False

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._become(BreakerState.OPEN)

    def _become(self, state: BreakerState) -> None:
        self.state = state
        self._generation += 1
        self._probing = False
        self._outcomes.clear()
        self._on_change(state)
