"""What each fault kind does to the stack when it begins and when it ends (fakes of the
supervisor, the control endpoints and the private broker; the real ones in
tests/e2e/test_scenarios.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.scenarios.injector import Injector
from harness.scenarios.spec import FaultSpec, parse_scenario


class Recorder:
    """Stands in for the stack, a control endpoint or the private broker: records each call."""

    def __init__(self, name: str, calls: list[tuple[Any, ...]]) -> None:
        self._name, self._calls = name, calls

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> bool:
            self._calls.append((self._name, method, *args, *sorted(kwargs.items())))
            return True  # is_running: the service is up

        return call


def fault(line: str, load: str = "{model: closed, users: 1, duration: 60s}") -> FaultSpec:
    text = f"name: s\ndescription: d\nload: {load}\nfaults:\n  - {line}\n"
    return parse_scenario(text, Path("s.yaml")).faults[0]


def applied(spec: FaultSpec) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    controls = {s: Recorder(f"control:{s}", calls) for s in ("payment", "notification")}
    injector = Injector(
        Recorder("stack", calls),  # type: ignore[arg-type]
        controls,  # type: ignore[arg-type]
        "amqp://unused",
        "ns",
        Recorder("broker", calls),  # type: ignore[arg-type]
    )
    injector.begin(spec)
    calls.append(("--- ends",))
    injector.end(spec)
    return calls


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "{at: 1s, duration: 5s, target: payment, kind: latency, operation: payment.charge,"
            " latency_ms: 300, jitter_ms: 50}",
            [
                ("control:payment", "set", "payment.charge", ("jitter_ms", 50.0),
                 ("latency_ms", 300.0)),
                ("--- ends",),
                ("control:payment", "clear", "payment.charge"),
            ],
        ),
        (
            "{at: 1s, duration: 5s, target: payment, kind: errors, operation: payment.refund,"
            " error_rate: 0.5, error: permanent}",
            [
                ("control:payment", "set", "payment.refund", ("error", "permanent"),
                 ("error_rate", 0.5)),
                ("--- ends",),
                ("control:payment", "clear", "payment.refund"),
            ],
        ),
        (
            "{at: 1s, duration: 5s, target: payment, kind: hang, operation: payment.charge}",
            [
                ("control:payment", "set", "payment.charge", ("hang", True)),
                ("--- ends",),
                ("control:payment", "clear", "payment.charge"),
            ],
        ),
        (
            "{at: 1s, duration: 5s, target: notification, kind: slow-consumer, latency_ms: 900}",
            [
                ("control:notification", "set", "notification.record", ("latency_ms", 900.0)),
                ("--- ends",),
                ("control:notification", "clear", "notification.record"),
            ],
        ),
        (
            "{at: 1s, duration: 5s, target: payment, kind: crash}",
            [("stack", "kill", "payment"), ("--- ends",), ("stack", "restart", "payment", 60.0)],
        ),
        (
            "{at: 1s, duration: 5s, target: inventory, kind: pause}",
            [("stack", "pause", "inventory"), ("--- ends",), ("stack", "resume", "inventory")],
        ),
        (
            "{at: 1s, duration: 5s, target: order, kind: slow-start}",
            [
                ("stack", "terminate", "order"),
                ("stack", "restart", "order", 65.0, {"ORDERFLOW_START_DELAY_S": "5"}),
                ("--- ends",),
                ("stack", "is_running", "order"),  # up after its slow start: nothing to do
            ],
        ),
        (
            "{at: 1s, duration: 5s, target: broker, kind: outage}",
            [("broker", "kill"), ("--- ends",), ("broker", "start")],
        ),
        (
            "{at: 1s, duration: 5s, target: broker, kind: outage, how: stop}",
            [("broker", "stop"), ("--- ends",), ("broker", "start")],
        ),
    ],
)  # fmt: skip
def test_each_kind_begins_and_ends_through_the_right_part(
    line: str, expected: list[tuple[Any, ...]]
) -> None:
    assert applied(fault(line)) == expected


def test_a_spike_is_the_load_generators_own_schedule() -> None:
    spike = fault(
        "{at: 1s, duration: 5s, target: load, kind: spike, factor: 2}",
        load="{model: open, rate: 10, duration: 60s}",
    )
    assert applied(spike) == [("--- ends",)]


def test_a_broker_outage_without_a_private_broker_is_refused() -> None:
    outage = fault("{at: 1s, duration: 5s, target: broker, kind: outage}")
    injector = Injector(None, {}, "amqp://unused", "ns")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="private broker"):
        injector.begin(outage)
