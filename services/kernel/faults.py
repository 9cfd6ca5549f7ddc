"""Application faults: added latency, errors or a hang on a named domain operation.

They act where every style enters the domain, at the start of a use case (`payment.charge` is the
same call whether it came over REST, gRPC, GraphQL, JSON-RPC or as a broker event), so a fault is
the same fault for every style. They are set and cleared at run time through the control
endpoint (services/kernel/control.py), which is off unless a token is configured.

A transient error is `InjectedUnavailable`, which every edge already maps as a service that could
not answer (503, UNAVAILABLE, JSON-RPC -32004; the broker consumer retries it). A permanent error
is `InjectedFailure`, an internal error everywhere (the broker retries it, then dead-letters it).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Final, Literal

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.kernel.errors import DownstreamUnavailable
from services.kernel.telemetry import Telemetry

# The operations a fault can name, by service: where a place-order request enters, the use cases
# the saga and the choreography call, and the notification every order ends with.
OPERATIONS: Final[dict[str, tuple[str, ...]]] = {
    "order": ("order.place",),
    "inventory": ("inventory.products", "inventory.reserve", "inventory.release"),
    "payment": ("payment.charge", "payment.refund"),
    "notification": ("notification.record",),
}
ERROR_KINDS: Final = ("transient", "permanent")
MAX_LATENCY_MS: Final = 600_000.0


class InvalidFault(ValueError):
    """A fault that cannot be set; the message names the field."""


class InjectedUnavailable(DownstreamUnavailable):
    """A transient injected error: the service answers as if it could not do the work now."""

    def __init__(self, operation: str) -> None:
        service, _, name = operation.partition(".")
        super().__init__(service, name, "injected transient fault")


class InjectedFailure(RuntimeError):
    """A permanent injected error: an internal error, as a bug would be."""


LatencyMs = Annotated[float, Field(ge=0, le=MAX_LATENCY_MS)]
# How each field's bounds read in an error, here and in a scenario file (harness/scenarios).
WANTED: Final[dict[str, str]] = {
    "latency_ms": f"a number from 0 to {MAX_LATENCY_MS:g}",
    "jitter_ms": f"a number from 0 to {MAX_LATENCY_MS:g}",
    "error_rate": "a number from 0 to 1",
    "error": f"one of {ERROR_KINDS}",
    "hang": "true or false",
}


class Fault(BaseModel):
    """One operation's fault: the one model of what the control endpoint accepts and of what a
    scenario's timeline may set (harness/scenarios/spec.py checks its parameters with it)."""

    # Strict: "10" or true is not a number here, as JSON says; NaN is no number either.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    latency_ms: LatencyMs = 0.0  # added before the operation runs
    jitter_ms: LatencyMs = 0.0  # plus up to this much more, uniformly
    error_rate: Annotated[float, Field(ge=0, le=1)] = 0.0  # the share of calls that then fail
    error: Literal["transient", "permanent"] = "transient"
    hang: bool = False  # never answer (the caller's timeout is the only way out)

    @classmethod
    def parse(cls, data: object) -> Fault:
        if not isinstance(data, Mapping):
            raise InvalidFault("a fault is a JSON object")
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise InvalidFault(f"unknown field(s) {unknown}")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            name = str(error.errors()[0]["loc"][0])
            raise InvalidFault(problem(name, data[name])) from None

    @classmethod
    def checked(cls, name: str, value: object) -> Any:
        """`value` as the field `name` holds it, if within the model's bounds."""
        try:
            return getattr(cls.model_validate({name: value}), name)
        except ValidationError:
            raise InvalidFault(problem(name, value)) from None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump()


def problem(name: str, value: object) -> str:
    return f"{name} must be {WANTED[name]}, got {value!r}"


class Faults:
    """The faults a service has now, by operation; `before(operation)` applies them."""

    def __init__(
        self, operations: Iterable[str], telemetry: Telemetry | None = None, seed: int | None = None
    ) -> None:
        self.operations = tuple(operations)
        self._active: dict[str, Fault] = {}
        self._changed: dict[str, asyncio.Event] = {}  # wakes the calls a hang holds
        self._random = random.Random(seed)
        self._injected: Counter | None = None
        if telemetry is not None:
            self._injected = telemetry.counter(
                "orderflow_faults_injected", "Faults applied, by operation and kind.",
                ["operation", "kind"],
            )  # fmt: skip

    def set(self, operation: str, fault: Fault) -> None:
        self._known(operation)
        self._active[operation] = fault
        self._wake(operation)

    def clear(self, operation: str | None = None) -> None:
        if operation is not None:
            self._known(operation)
        for name in self.operations if operation is None else (operation,):
            self._active.pop(name, None)
            self._wake(name)

    def active(self) -> dict[str, Fault]:
        return dict(self._active)

    async def before(self, operation: str) -> None:
        """Delay, hang or fail as the fault on `operation` says; nothing without one."""
        fault = self._active.get(operation)
        if fault is None:
            return
        if fault.hang:
            self._count(operation, "hang")
            # Until the fault is changed or cleared (then the call goes on, under whatever is
            # set now), or the call is cancelled: a cleared hang must not keep what it held,
            # e.g. a broker delivery that is never acknowledged.
            await self._changed.setdefault(operation, asyncio.Event()).wait()
            await self.before(operation)
            return
        delay_ms = fault.latency_ms + self._random.uniform(0.0, fault.jitter_ms)
        if delay_ms > 0:
            self._count(operation, "latency")
            await asyncio.sleep(delay_ms / 1000.0)
        if fault.error_rate and self._random.random() < fault.error_rate:
            self._count(operation, fault.error)
            if fault.error == "transient":
                raise InjectedUnavailable(operation)
            raise InjectedFailure(f"{operation}: injected permanent fault")

    def _wake(self, operation: str) -> None:
        held = self._changed.pop(operation, None)
        if held is not None:
            held.set()

    def _known(self, operation: str) -> None:
        if operation not in self.operations:
            raise InvalidFault(f"no operation {operation!r} here; choose from {self.operations}")

    def _count(self, operation: str, kind: str) -> None:
        if self._injected is not None:
            self._injected.labels(operation, kind).inc()
