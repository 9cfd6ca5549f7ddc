"""The resilience profiles: what each pattern is set to, before any variable overrides it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Resilience:
    profile: str
    call_timeout_s: float  # each attempt of a call
    retry_attempts: int  # 1: no retry
    retry_base_s: float  # back-off: random up to base * 2^attempt (full jitter) ...
    retry_max_s: float  # ... and never more than this
    breaker_window: int  # the last calls the breaker judges by; 0: no breaker
    breaker_failure_rate: float  # the share of failures among them that opens it
    breaker_reset_s: float  # how long it stays open before one probe call may pass
    bulkhead_limit: int  # calls in flight per downstream service; 0: no bulkhead
    bulkhead_wait_s: float  # how long a call may wait for a free slot before it is refused


PROFILES: Final[dict[str, Resilience]] = {
    # What a first version does: wait long, try once, never stop calling a failing service.
    "naive": Resilience("naive", 30.0, 1, 0.05, 1.0, 0, 0.5, 5.0, 0, 0.0),
    # Fail fast and contain the damage: short timeouts, a few retries (every call carries the
    # order id as its idempotency key, so a retry never does the work twice), a breaker and a
    # bulkhead per downstream service. The breaker judges the last 100 calls: a service failing
    # 30% of its calls (what retries are for) opened a breaker over 10 calls within a second
    # (P(5 of 10) = 15%, and hundreds of calls a second slide the window), and over 50 within
    # five seconds; open, it failed every order (payment-errors: 6% and 33% of orders went
    # through, against 71% with no breaker at all). P(50 of 100) is 2e-5.
    "resilient": Resilience("resilient", 1.0, 3, 0.05, 0.5, 100, 0.5, 5.0, 32, 0.05),
}
