"""Scenario files: a load, a timeline of faults and what must hold, read from YAML.

The file is composed (not loaded) so every node keeps its line (nodes.py walks them); any
mistake is a `ScenarioError` naming the file, the line and the field path, because a scenario
that is wrong should fail before the stack starts, not a minute into a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

from harness.audit import DEFAULT_GRACE_S
from harness.scenarios.nodes import (
    At,
    ScenarioError,
    read_choice,
    read_choices,
    read_count,
    read_number,
    read_seconds,
    read_text,
    reject_unknown,
    scalar,
    shown,
)
from harness.scenarios.phases import Window, phase_bounds
from harness.vocabulary import AUDIT_COUNTS, PHASES, STYLES
from services.kernel.config import SERVICES
from services.kernel.faults import ERROR_KINDS, MAX_LATENCY_MS, OPERATIONS, Fault, InvalidFault
from services.kernel.resilience.policy import PROFILES

__all__ = [
    "APP_KINDS",
    "BROKER_KINDS",
    "PROCESS_KINDS",
    "Expectation",
    "FaultSpec",
    "LoadSpec",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]

APP_KINDS: Final = ("latency", "errors", "hang")
PROCESS_KINDS: Final = ("crash", "pause", "slow-start")
BROKER_KINDS: Final = ("outage", "poison")
TARGETS: Final = (*SERVICES, "broker", "load")
MODELS: Final = ("closed", "open")
OUTAGE_HOWS: Final = ("kill", "stop")
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class LoadSpec:
    model: str  # "closed" | "open"
    users: int | None  # closed: the users; open: the pool (None: the runner sizes it)
    rate: float | None  # open: arrivals per second; closed: None
    duration_s: float  # the whole run, warmup included
    warmup_s: float = 0.0  # not measured: the stack and the clients settle


@dataclass(frozen=True)
class FaultSpec:
    at_s: float  # from the start of the load
    duration_s: float
    target: str  # a service, "broker" or "load"
    kind: str
    params: Mapping[str, Any]  # every parameter of the kind, defaults filled in
    line: int  # of the fault's entry in the file

    @property
    def ends_s(self) -> float:
        return self.at_s + self.duration_s

    def describe(self) -> str:
        detail = _detail(self.kind, self.params)
        return f"{self.target} {self.kind}{detail} at {self.at_s:g}s for {self.duration_s:g}s"


@dataclass(frozen=True)
class Expectation:
    styles: tuple[str, ...]
    zero: tuple[str, ...]  # audit counts that must be 0
    min_success_ratio: Mapping[str, float]  # phase -> ratio in [0, 1]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    load: LoadSpec
    styles: tuple[str, ...]
    profile: str | None  # None: the environment's (ORDERFLOW_PROFILE)
    grace_s: float  # how long the audit waits for work in flight
    faults: tuple[FaultSpec, ...]  # by start time
    expect: tuple[Expectation, ...]
    path: Path
    time_scale: float = 1.0  # the file's times were multiplied by this (see scale.py)

    def needs_private_broker(self) -> bool:
        """An outage stops a broker: it must be one only this run uses."""
        return any(f.target == "broker" and f.kind == "outage" for f in self.faults)

    @property
    def phases(self) -> Mapping[str, tuple[float, float]]:
        """The non-empty phases, as [start, end) seconds from the start of the load."""
        return _phases(self.load, self.faults)


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(path, None, "", f"cannot be read: {error}") from error
    return parse_scenario(text, path)


def parse_scenario(text: str, path: Path) -> Scenario:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "cannot be parsed"
        raise ScenarioError(path, line, "", f"not valid YAML: {problem}") from error
    except yaml.YAMLError as error:
        raise ScenarioError(path, None, "", f"not valid YAML: {error}") from error
    if root is None:
        raise ScenarioError(
            path, 1, "", "empty: a scenario needs at least name, description and load"
        )
    return _scenario(At(root, "", path))


# --- the scenario ----------------------------------------------------------------------------

_TOP = ("name", "description", "load", "styles", "profile", "grace", "faults", "expect")
_LOAD = ("model", "users", "rate", "duration", "warmup")
_FAULT = ("at", "duration", "target", "kind")
_EXPECT = ("styles", "zero", "min_success_ratio")


def _scenario(root: At) -> Scenario:
    top = root.fields(_TOP)
    name = _name(root.require(top, "name"))
    description = read_text(root.require(top, "description"))
    load = _load(root.require(top, "load"))
    styles = read_choices(top["styles"], STYLES, "style") if "styles" in top else STYLES
    profile = read_choice(top["profile"], tuple(PROFILES), "profile") if "profile" in top else None
    grace = read_seconds(top["grace"], zero=True) if "grace" in top else DEFAULT_GRACE_S
    faults = _faults(top["faults"], load) if "faults" in top else ()
    phases = _phases(load, faults)
    expect = (
        tuple(_expectation(e, styles, phases) for e in top["expect"].items())
        if "expect" in top
        else ()
    )
    return Scenario(name, description, load, styles, profile, grace, faults, expect, root.path)


def _name(at: At) -> str:
    name = read_text(at)
    if not _NAME.match(name):
        raise at.error(f"must be lowercase letters, digits and dashes, not {name!r}")
    if name != at.path.stem:
        raise at.error(f"{name!r} is not the file's name ({at.path.name}): rename one of them")
    return name


def _load(at: At) -> LoadSpec:
    fields = at.fields(_LOAD)
    model = read_choice(at.require(fields, "model"), MODELS, "load model")
    rate: float | None = None
    if model == "closed":
        users: int | None = read_count(at.require(fields, "users", " by the closed model"))
        if "rate" in fields:
            raise fields["rate"].error(
                "the closed model takes no rate (for arrivals per second, use model: open)"
            )
    else:
        users = read_count(fields["users"]) if "users" in fields else None
        per_s = at.require(fields, "rate", " by the open model (arrivals per second)")
        rate = read_number(per_s, "a number above 0 (arrivals per second)", lambda r: r > 0)
    total = read_seconds(at.require(fields, "duration"))
    warmup = read_seconds(fields["warmup"], zero=True) if "warmup" in fields else 0.0
    if warmup >= total:
        raise fields["warmup"].error(f"must be shorter than load.duration ({total:g}s)")
    return LoadSpec(model, users, rate, total, warmup)


# --- faults ----------------------------------------------------------------------------------

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
_PARAMS: Final[dict[str, dict[str, tuple[_Param, object]]]] = {
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
_FAULT_FIELDS: Final = (*_FAULT, *dict.fromkeys(p for params in _PARAMS.values() for p in params))


def _kinds(target: str) -> tuple[str, ...]:
    if target == "broker":
        return BROKER_KINDS
    if target == "load":
        return ("spike",)
    # Every order event ends at the notification service: the one consumer slowing down matters.
    return APP_KINDS + PROCESS_KINDS + (("slow-consumer",) if target == "notification" else ())


def _faults(at: At, load: LoadSpec) -> tuple[FaultSpec, ...]:
    read = sorted((_fault(item, load) for item in at.items()), key=lambda pair: pair[0].at_s)
    last: dict[str, tuple[FaultSpec, At]] = {}
    for fault, item in read:
        if fault.kind == "spike" and "load" in last:  # the load generator keeps one surge
            first, first_at = last["load"]
            raise item.error(
                f"one spike per scenario; {first_at.field} on line {first.line} is one"
            )
        if (earlier := last.get(fault.target)) and fault.at_s < earlier[0].ends_s:
            first, first_at = earlier
            raise item.error(
                f"overlaps {first_at.field} on line {first.line} ({first.describe()}): "
                f"one fault at a time on a target"
            )
        last[fault.target] = (fault, item)
    return tuple(fault for fault, _ in read)


def _fault(at: At, load: LoadSpec) -> tuple[FaultSpec, At]:
    fields = at.fields()
    if not {"target", "kind"} <= fields.keys():
        reject_unknown(fields, _FAULT_FIELDS)  # a misspelt target or kind, most likely
    target = read_choice(at.require(fields, "target"), TARGETS, "target")
    kind = _kind(at.require(fields, "kind"), target, load)
    reject_unknown(fields, (*_FAULT, *_PARAMS[kind]), f" for {kind}")
    start = read_seconds(at.require(fields, "at"), zero=True)
    length = read_seconds(at.require(fields, "duration"))
    _inside(fields, start, length, load)
    params = {
        name: _param(at, fields, name, parse, target, default)
        for name, (parse, default) in _PARAMS[kind].items()
    }
    return FaultSpec(start, length, target, kind, MappingProxyType(params), at.line), at


def _kind(at: At, target: str, load: LoadSpec) -> str:
    kind = read_choice(at, tuple(_PARAMS), "fault kind")
    allowed = _kinds(target)
    if kind not in allowed:
        owners = " or ".join(t for t in TARGETS if kind in _kinds(t))
        raise at.error(
            f"{kind} is a fault of {owners}, not {target}: {target} takes {', '.join(allowed)}"
        )
    if kind == "spike" and load.model != "open":
        raise at.error("a spike multiplies the open model's rate, and load.model is closed")
    return kind


def _param(
    at: At, fields: Mapping[str, At], name: str, parse: _Param, target: str, default: object
) -> object:
    if name in fields:
        return parse(fields[name], target)
    if default is _REQUIRED:
        at.require(fields, name)
    return default


def _inside(fields: Mapping[str, At], start: float, length: float, load: LoadSpec) -> None:
    """A fault starts after the warmup and ends before the load does, so there is an after."""
    if start < load.warmup_s:
        raise fields["at"].error(f"{start:g}s is in the warmup (load.warmup: {load.warmup_s:g}s)")
    if start >= load.duration_s:
        raise fields["at"].error(f"{start:g}s is not before the load ends ({load.duration_s:g}s)")
    if (end := start + length) >= load.duration_s:
        problem = (
            f"the fault would end at {end:g}s, not before the load ends ({load.duration_s:g}s)"
        )
        raise fields["duration"].error(problem)


def _detail(kind: str, params: Mapping[str, Any]) -> str:
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


# --- phases and expectations -----------------------------------------------------------------


def _phases(load: LoadSpec, faults: tuple[FaultSpec, ...]) -> Mapping[str, tuple[float, float]]:
    """The phases as planned: the same rule the results apply to the faults as they happened."""
    planned = [Window(f.target, f.at_s, f.ends_s) for f in faults]
    return MappingProxyType(phase_bounds(planned, load.warmup_s, load.duration_s))


def _expectation(
    at: At, styles: tuple[str, ...], phases: Mapping[str, tuple[float, float]]
) -> Expectation:
    fields = at.fields(_EXPECT)
    chosen = _subset(fields["styles"], styles) if "styles" in fields else styles
    zero = read_choices(fields["zero"], AUDIT_COUNTS, "audit count") if "zero" in fields else ()
    ratios = _ratios(fields["min_success_ratio"], phases) if "min_success_ratio" in fields else {}
    if not zero and not ratios:
        raise at.error("expects nothing: give zero, min_success_ratio or both")
    return Expectation(chosen, zero, MappingProxyType(ratios))


def _subset(at: At, styles: tuple[str, ...]) -> tuple[str, ...]:
    chosen = read_choices(at, STYLES, "style")
    for item, style in zip(at.items(), chosen, strict=True):
        if style not in styles:
            raise item.error(f"{style} is not one of the scenario's styles ({', '.join(styles)})")
    return chosen


def _ratios(at: At, phases: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for name, field in at.fields(PHASES).items():
        if name not in phases:
            why = "it has no faults" if "during" not in phases else "its first fault starts then"
            raise field.error(f"this scenario has no {name} phase: {why}", line=field.entry_line)
        ratios[name] = read_number(field, "a ratio from 0 to 1", lambda r: 0 <= r <= 1)
    return ratios
