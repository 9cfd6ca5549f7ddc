"""The faults a scenario file can plan: which kinds each target takes, and each kind's
parameters with how they are read and their defaults (docs/scenarios.md, The faults)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from harness.scenarios.nodes import At, read_choice, read_number, scalar, shown
from services.kernel.config import SERVICES
from services.kernel.faults import ERROR_KINDS, MAX_LATENCY_MS, OPERATIONS, Fault, InvalidFault

APP_KINDS: Final = ("latency", "errors", "hang")
PROCESS_KINDS: Final = ("crash", "pause", "slow-start")
BROKER_KINDS: Final = ("outage", "poison")
TARGETS: Final = (*SERVICES, "broker", "load")
OUTAGE_HOWS: Final = ("kill", "stop")
FAULT_KEYS: Final = ("at", "duration", "target", "kind")  # every fault has them
# One replica of a service (`order-2`), as the stack names them when it runs several.
REPLICA: Final = re.compile(r"^(?P<service>[a-z]+)-(?P<index>[1-9][0-9]*)$")

_Param = Callable[[At, str], object]  # a parameter's node and the fault's target -> its value
_REQUIRED: Final = object()


def _operation(at: At, target: str) -> str:
    return read_choice(at, OPERATIONS.get(target, ()), f"{target} operation")


def _num(wanted: str, ok: Callable[[float], bool]) -> _Param:
    return lambda at, _target: read_number(at, wanted, ok)


def _one_of(choices: tuple[str, ...], what: str) -> _Param:
    return lambda at, _target: read_choice(at, choices, what)


def _fault_field(name: str, wanted: str, *, above_zero: bool = False) -> _Param:
    """A parameter of an application fault, checked by the control endpoint's own model (one
    set of bounds: what a timeline sets, a service accepts). A latency or error rate of 0 would
    be a fault that does nothing, so a timeline's must be above 0."""

    def parse(at: At, _target: str) -> float:
        try:
            value = float(Fault.checked(name, scalar(at)))
        except InvalidFault:
            value = None
        if value is None or (above_zero and value == 0):
            raise at.error(f"must be {wanted}, not {shown(at)}")
        return value

    return parse


_MAX = f"{MAX_LATENCY_MS:g}"
_LATENCY = _fault_field("latency_ms", f"a number above 0, at most {_MAX}", above_zero=True)
PARAMS: Final[dict[str, dict[str, tuple[_Param, object]]]] = {
    "latency": {
        "operation": (_operation, _REQUIRED),
        "latency_ms": (_LATENCY, _REQUIRED),
        "jitter_ms": (_fault_field("jitter_ms", f"a number from 0 to {_MAX}"), 0.0),
    },
    "errors": {
        "operation": (_operation, _REQUIRED),
        "error_rate": (
            _fault_field("error_rate", "a number above 0, at most 1", above_zero=True),
            _REQUIRED,
        ),
        "error": (_one_of(ERROR_KINDS, "error kind"), "transient"),
    },
    "hang": {"operation": (_operation, _REQUIRED)},
    "crash": {},
    "pause": {},
    "slow-start": {},
    "slow-consumer": {"latency_ms": (_LATENCY, _REQUIRED)},
    "outage": {"how": (_one_of(OUTAGE_HOWS, "way to stop the broker"), "kill")},
    "poison": {"rate": (_num("a number above 0 (messages a second)", lambda v: v > 0), _REQUIRED)},
    "spike": {"factor": (_num("a number above 1", lambda v: v > 1), _REQUIRED)},
}
FAULT_FIELDS: Final = (*FAULT_KEYS, *dict.fromkeys(p for params in PARAMS.values() for p in params))


def fault_targets(replicas: int) -> tuple[str, ...]:
    """What a fault can target: a service (every replica of it), the broker, the load, and,
    with several replicas, each replica by its name."""
    named = [f"{s}-{i}" for s in SERVICES for i in range(1, replicas + 1)] if replicas > 1 else []
    return (*TARGETS, *named)


def read_target(at: At, replicas: int) -> str:
    """The fault's target; a replica's name beyond the stack's replicas says so."""
    value = scalar(at)
    found = REPLICA.match(value) if isinstance(value, str) else None
    if found and found["service"] in SERVICES and int(found["index"]) > replicas:
        raise at.error(
            f"{value} names a replica, and the stack has {replicas} of each service"
            " (stack.replicas)"
        )
    return read_choice(at, fault_targets(replicas), "target")


def replica_service(target: str) -> str | None:
    """The service of a replica's name (`order-2`: order); None for any other target."""
    found = REPLICA.match(target)
    return found["service"] if found and found["service"] in SERVICES else None


def kinds(target: str, replicas: int = 1) -> tuple[str, ...]:
    if replica_service(target) is not None:
        # A replica is a process of its own: what the supervisor does to processes. The
        # application faults go through a service's one control address.
        return PROCESS_KINDS
    if target == "broker":
        return BROKER_KINDS
    if target == "load":
        return ("spike",)
    if replicas > 1:  # each replica has its own control address: not planned per service yet
        return PROCESS_KINDS
    # Every order event ends at the notification service: the one consumer slowing down matters.
    return APP_KINDS + PROCESS_KINDS + (("slow-consumer",) if target == "notification" else ())


def read_kind(at: At, target: str, load_model: str | None, replicas: int = 1) -> str:
    """The fault's kind, one its target takes (a spike only in the open model)."""
    kind = read_choice(at, tuple(PARAMS), "fault kind")
    allowed = kinds(target, replicas)
    if replicas > 1 and kind in kinds(target) and kind not in allowed:
        raise at.error(
            f"{kind} goes through a service's control address, and with stack.replicas"
            f" {replicas} each replica has its own: {target} takes {', '.join(allowed)} here"
        )
    if kind not in allowed:
        owners = " or ".join(t for t in TARGETS if kind in kinds(t))
        raise at.error(
            f"{kind} is a fault of {owners}, not {target}: {target} takes {', '.join(allowed)}"
        )
    if kind == "spike" and load_model not in (None, "open"):
        raise at.error("a spike multiplies the open model's rate, and load.model is closed")
    return kind


def read_param(
    at: At, fields: Mapping[str, At], name: str, parse: _Param, target: str, default: object
) -> object:
    if name in fields:
        return parse(fields[name], target)
    if default is _REQUIRED:
        at.require(fields, name)
    return default


def describe_params(kind: str, params: Mapping[str, Any]) -> str:
    """The parameters worth a glance, for `FaultSpec.describe`."""
    on = f" on {params['operation']}" if "operation" in params else ""
    if kind == "latency":
        jitter = f" ±{params['jitter_ms']:g}" if params["jitter_ms"] else ""
        return f" {params['latency_ms']:g}{jitter}ms{on}"
    if kind == "errors":
        return f" {params['error_rate']:.0%} {params['error']}{on}"
    if kind == "slow-consumer":
        return f" +{params['latency_ms']:g}ms a message"
    if kind == "outage":
        return f" ({params['how']})"
    if kind == "poison":
        return f" {params['rate']:g}/s"
    if kind == "spike":
        return f" x{params['factor']:g}"
    return on
