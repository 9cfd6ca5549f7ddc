"""Resilience of the order service's calls to inventory and payment: timeouts, retries with
back-off and jitter, a circuit breaker and a bulkhead per downstream service, set by a profile
(`naive` or `resilient`, ORDERFLOW_PROFILE) and each pattern's own variables."""
