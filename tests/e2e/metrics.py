"""Reading a running service's Prometheus metrics, for the e2e tests of every style."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.stack.supervisor import Stack


def sample_sum(stack: Stack, service: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 if none yet)."""
    text = httpx.get(f"{stack.url(service)}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def downstream_calls(stack: Stack) -> dict[tuple[str, str, str], float]:
    """The order service's calls to inventory and payment, by target, operation and outcome.
    (Notifications go over REST in every style, delivered apart from the saga: not compared.)"""
    text = httpx.get(f"{stack.url('order')}/metrics", timeout=10).text
    return {
        (s.labels["target"], s.labels["operation"], s.labels["outcome"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "orderflow_downstream_calls"
        for s in family.samples
        if s.name.endswith("_total") and s.labels["target"] in ("inventory", "payment")
    }
