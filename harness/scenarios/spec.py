"""Scenario files: a load, a timeline of faults and what must hold, read from YAML.

The file is composed (not loaded) so every node keeps its line (nodes.py walks them), and read
into one pydantic model, `Scenario`: each field is read from its node by a nodes.py reader, and
each section's rules across fields are its model's. Any mistake is a `ScenarioError` naming the
file, the line and the field path, because a scenario that is wrong should fail before the stack
starts, not a minute into a run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Final

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
)

from harness.audit import DEFAULT_GRACE_S
from harness.scenarios.fault_kinds import (
    APP_KINDS,
    BROKER_KINDS,
    FAULT_FIELDS,
    FAULT_KEYS,
    PARAMS,
    PROCESS_KINDS,
    describe_params,
    read_kind,
    read_param,
    read_target,
)
from harness.scenarios.nodes import (
    At,
    ScenarioError,
    read_choice,
    read_choices,
    read_count,
    read_number,
    read_text,
    reject_unknown,
)
from harness.scenarios.phases import Window, phase_bounds
from harness.scenarios.section import Missing, Section, read_by, seconds
from harness.stack.replicas import GRPC_BALANCING, PROXY_L7
from harness.vocabulary import AUDIT_COUNTS, PHASES, STYLES, store_name
from services.kernel.config import SERVICES
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
    "StackSpec",
    "load_scenario",
    "parse_scenario",
]

MODELS: Final = ("closed", "open")
STORES: Final = ("sqlite", "postgres")
# A 2-core machine runs every replica of every service: more than this only thrashes it.
MAX_REPLICAS: Final = 4
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class LoadSpec(Section):
    KEYS: ClassVar[Mapping[str, str]] = {
        "model": "model",
        "users": "users",
        "rate": "rate",
        "duration": "duration_s",
        "warmup": "warmup_s",
    }

    # "closed" | "open"
    model: Annotated[str, read_by(lambda at: read_choice(at, MODELS, "load model"))]
    # closed: the users; open: the pool (None: the runner sizes it)
    users: Annotated[int | None, read_by(read_count)] = None
    # open: arrivals per second; closed: None
    rate: Annotated[
        float | None,
        read_by(
            lambda at: read_number(at, "a number above 0 (arrivals per second)", lambda r: r > 0)
        ),
    ] = None
    duration_s: Annotated[float, seconds()]  # the whole run, warmup included
    warmup_s: Annotated[float, seconds(zero=True)] = 0.0  # not measured: the stack settles

    def _check(self, at: At, fields: Mapping[str, At], info: ValidationInfo) -> None:
        if self.model == "closed":
            at.require(fields, "users", " by the closed model")
            if "rate" in fields:
                raise fields["rate"].error(
                    "the closed model takes no rate (for arrivals per second, use model: open)"
                )
        else:
            at.require(fields, "rate", " by the open model (arrivals per second)")
        if self.warmup_s >= self.duration_s:
            raise fields["warmup"].error(
                f"must be shorter than load.duration ({self.duration_s:g}s)"
            )


class StackSpec(Section):
    """The stack each style runs on (docs/scale-out.md): `orderflow up`'s --replicas, --store
    and --grpc-balancing, and the lease after which another replica takes over a dead one's
    sagas."""

    KEYS: ClassVar[Mapping[str, str]] = {
        "replicas": "replicas",
        "store": "store",
        "grpc_balancing": "grpc_balancing",
        "claim_lease": "claim_lease_s",
    }

    replicas: Annotated[
        int,
        read_by(
            lambda at: int(
                read_number(
                    at,
                    f"a whole number from 1 to {MAX_REPLICAS}",
                    lambda n: n == int(n) and 1 <= n <= MAX_REPLICAS,
                )
            )
        ),
    ] = 1
    store: Annotated[str, read_by(lambda at: read_choice(at, STORES, "store"))] = "sqlite"
    grpc_balancing: Annotated[
        str, read_by(lambda at: read_choice(at, GRPC_BALANCING, "gRPC balancing"))
    ] = PROXY_L7
    # None: the services' default (ORDERFLOW_CLAIM_LEASE_S, 10 s)
    claim_lease_s: Annotated[float | None, seconds()] = None

    @property
    def replicated(self) -> bool:
        return self.replicas > 1

    def describe(self) -> str:
        store = store_name(self.store)
        copies = f", {self.replicas} replicas per service" if self.replicated else ""
        grpc = f", gRPC balanced by {self.grpc_balancing}" if self.replicated else ""
        lease = f", claim lease {self.claim_lease_s:g}s" if self.claim_lease_s else ""
        return f"{store}{copies}{grpc}{lease}"

    def to_json(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "store": self.store,
            "grpc_balancing": self.grpc_balancing,
            "claim_lease_s": self.claim_lease_s,
        }

    def _check(self, at: At, fields: Mapping[str, At], info: ValidationInfo) -> None:
        if self.replicas > 1 and self.store != "postgres":
            field = fields.get("store", fields["replicas"])
            raise field.error(
                f"{self.replicas} replicas need store: postgres (on SQLite each replica would"
                " keep a database file of its own)"
            )
        if "grpc_balancing" in fields and self.replicas == 1:
            raise fields["grpc_balancing"].error(
                "balances gRPC over several replicas, and stack.replicas is 1"
            )


class FaultSpec(Section):
    KEYS: ClassVar[Mapping[str, str]] = {
        "at": "at_s",
        "duration": "duration_s",
        "target": "target",
        "kind": "kind",
    }

    at_s: Annotated[float, seconds(zero=True)]  # from the start of the load
    duration_s: Annotated[float, seconds()]
    # a service (every replica), one replica (`order-2`), "broker" or "load"
    target: str
    kind: str
    # every parameter of the kind, defaults filled in
    params: Annotated[Mapping[str, Any], BeforeValidator(_params)]
    line: int  # of the fault's entry in the file

    @property
    def ends_s(self) -> float:
        return self.at_s + self.duration_s

    def describe(self) -> str:
        detail = describe_params(self.kind, self.params)
        return f"{self.target} {self.kind}{detail} at {self.at_s:g}s for {self.duration_s:g}s"

    @classmethod
    def _fields(cls, at: At, info: ValidationInfo) -> dict[str, At]:
        """The parameters a fault takes depend on its kind, and its kind's on its target."""
        fields = at.fields()
        if not {"target", "kind"} <= fields.keys():
            reject_unknown(fields, FAULT_FIELDS)  # a misspelt target or kind, most likely
        replicas = _replicas(info)
        target = read_target(at.require(fields, "target"), replicas)
        load = _context(info).get("load")
        model = load.model if isinstance(load, LoadSpec) else None
        kind = read_kind(at.require(fields, "kind"), target, model, replicas)
        reject_unknown(fields, (*FAULT_KEYS, *PARAMS[kind]), f" for {kind}")
        return fields

    @classmethod
    def _values(cls, at: At, fields: Mapping[str, At], info: ValidationInfo) -> dict[str, object]:
        target = read_target(fields["target"], _replicas(info))
        return {
            "at_s": fields["at"] if "at" in fields else Missing(at, "at"),
            "duration_s": fields["duration"] if "duration" in fields else Missing(at, "duration"),
            "target": target,
            "kind": read_choice(fields["kind"], tuple(PARAMS), "fault kind"),
            "params": _ParamNodes(at, fields, target),
            "line": at.line,
        }


@dataclass(frozen=True)
class _ParamNodes:
    """A fault's parameters as the file gives them, read once its place in the load is known
    to be right (the order a reader fixes them in)."""

    at: At
    fields: Mapping[str, At]
    target: str

    def read(self, kind: str) -> dict[str, object]:
        return {
            name: read_param(self.at, self.fields, name, parse, self.target, default)
            for name, (parse, default) in PARAMS[kind].items()
        }


def _params(value: object, info: ValidationInfo) -> object:
    if not isinstance(value, _ParamNodes):
        return value
    load, read = _context(info).get("load"), info.data
    if isinstance(load, LoadSpec) and {"at_s", "duration_s"} <= read.keys():
        _inside(value.fields, read["at_s"], read["duration_s"], load)
    return value.read(read["kind"])


class Expectation(Section):
    KEYS: ClassVar[Mapping[str, str]] = {
        "styles": "styles",
        "zero": "zero",
        "min_success_ratio": "min_success_ratio",
        "min_replica_share": "min_replica_share",
    }

    styles: tuple[str, ...] = ()  # () read from a file: the scenario's styles
    # audit counts that must be 0
    zero: Annotated[
        tuple[str, ...], read_by(lambda at: read_choices(at, AUDIT_COUNTS, "audit count"))
    ] = ()
    # phase -> ratio in [0, 1]
    min_success_ratio: Mapping[str, float] = Field(default_factory=dict)
    # service -> the least share of the service's requests each of its replicas must receive
    min_replica_share: Mapping[str, float] = Field(default_factory=dict)

    @classmethod
    def _values(cls, at: At, fields: Mapping[str, At], info: ValidationInfo) -> dict[str, object]:
        context = _context(info)
        styles: tuple[str, ...] = context.get("styles", STYLES)
        values = super()._values(at, fields, info)
        values["styles"] = _subset(fields["styles"], styles) if "styles" in fields else styles
        if "min_success_ratio" in fields:
            phases = context.get("phases", {})
            values["min_success_ratio"] = _ratios(fields["min_success_ratio"], phases)
        if "min_replica_share" in fields:
            values["min_replica_share"] = _shares(fields["min_replica_share"], _replicas(info))
        return values

    def _check(self, at: At, fields: Mapping[str, At], info: ValidationInfo) -> None:
        if not self.zero and not self.min_success_ratio and not self.min_replica_share:
            raise at.error(
                "expects nothing: give zero, min_success_ratio, min_replica_share or some of them"
            )


def _context(info: ValidationInfo) -> dict[str, Any]:
    """What the scenario read so far that a later section's rules need (its load, its styles
    and phases), shared through pydantic's validation context."""
    context = info.context
    return context if isinstance(context, dict) else {}


def _read_so_far(info: ValidationInfo) -> dict[str, Any]:
    """The context, with the scenario's load, styles and stack once they are read."""
    context = _context(info)
    read = ("load", "styles", "stack")
    context.update({key: info.data[key] for key in read if key in info.data})
    return context


def _replicas(info: ValidationInfo) -> int:
    """Each service's replicas, as the scenario's stack section asks (1 without one)."""
    stack = _context(info).get("stack")
    return stack.replicas if isinstance(stack, StackSpec) else 1


def _fault_nodes(value: object, info: ValidationInfo) -> object:
    if not isinstance(value, At):
        return value
    if "load" not in _read_so_far(info):  # the load is wrong, and said so: nothing to go by
        return ()
    items = value.items()
    _context(info)["fault nodes"] = items
    return items


def _by_start(faults: tuple[FaultSpec, ...], info: ValidationInfo) -> tuple[FaultSpec, ...]:
    """The faults by start time, one at a time on a target; the phases they make are kept for
    the expectations."""
    context = _context(info)
    items: list[At] | None = context.pop("fault nodes", None)
    if items is None or "load" not in context:  # given in code, or the load was wrong
        return tuple(sorted(faults, key=lambda fault: fault.at_s))
    ordered = sorted(zip(faults, items, strict=True), key=lambda pair: pair[0].at_s)
    _no_overlap(ordered)
    found = tuple(fault for fault, _ in ordered)
    context["phases"] = _phases(context["load"], found)
    return found


def _expectation_nodes(value: object, info: ValidationInfo) -> object:
    if not isinstance(value, At):
        return value
    context = _read_so_far(info)
    if "load" not in context:
        return ()
    context.setdefault("phases", _phases(context["load"], ()))
    return value.items()


class Scenario(Section):
    KEYS: ClassVar[Mapping[str, str]] = {
        "name": "name",
        "description": "description",
        "load": "load",
        "styles": "styles",
        "profile": "profile",
        "grace": "grace_s",
        "stack": "stack",
        "faults": "faults",
        "expect": "expect",
    }

    name: Annotated[str, read_by(_name)]
    description: Annotated[str, read_by(read_text)]
    load: LoadSpec
    styles: Annotated[tuple[str, ...], read_by(lambda at: read_choices(at, STYLES, "style"))] = (
        STYLES
    )
    # None: the environment's (ORDERFLOW_PROFILE)
    profile: Annotated[
        str | None, read_by(lambda at: read_choice(at, tuple(PROFILES), "profile"))
    ] = None
    grace_s: Annotated[float, seconds(zero=True)] = DEFAULT_GRACE_S  # the audit's wait
    stack: StackSpec = StackSpec()  # read before the faults: they may name its replicas
    faults: Annotated[
        tuple[FaultSpec, ...], BeforeValidator(_fault_nodes), AfterValidator(_by_start)
    ] = ()  # by start time
    expect: Annotated[tuple[Expectation, ...], BeforeValidator(_expectation_nodes)] = ()
    path: Path
    time_scale: float = 1.0  # the file's times were multiplied by this (see scale.py)

    def needs_private_broker(self) -> bool:
        """An outage stops a broker: it must be one only this run uses."""
        return any(f.target == "broker" and f.kind == "outage" for f in self.faults)

    @property
    def phases(self) -> Mapping[str, tuple[float, float]]:
        """The non-empty phases, as [start, end) seconds from the start of the load."""
        return _phases(self.load, self.faults)

    @classmethod
    def _values(cls, at: At, fields: Mapping[str, At], info: ValidationInfo) -> dict[str, object]:
        return {**super()._values(at, fields, info), "path": at.path}


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
    try:
        return Scenario.model_validate(At(root, "", path), context={})
    except ValidationError as error:
        raise _scenario_error(error, path) from None


def _scenario_error(error: ValidationError, path: Path) -> ScenarioError:
    """The ScenarioError a reader or a rule raised (pydantic wraps it); any other problem the
    model found, in its words (a reader returns what its field holds, so none is expected)."""
    first = error.errors()[0]
    raised = first.get("ctx", {}).get("error")
    if isinstance(raised, ScenarioError):
        return raised
    if isinstance(raised, ValidationError):
        return _scenario_error(raised, path)
    return ScenarioError(path, None, ".".join(map(str, first["loc"])), first["msg"])


# --- the scenario ----------------------------------------------------------------------------


def _name(at: At) -> str:
    name = read_text(at)
    if not _NAME.match(name):
        raise at.error(f"must be lowercase letters, digits and dashes, not {name!r}")
    if name != at.path.stem:
        raise at.error(f"{name!r} is not the file's name ({at.path.name}): rename one of them")
    return name


def _no_overlap(ordered: list[tuple[FaultSpec, At]]) -> None:
    """One fault at a time on a target, and one spike (the load generator keeps one surge)."""
    last: dict[str, tuple[FaultSpec, At]] = {}
    for fault, item in ordered:
        if fault.kind == "spike" and "load" in last:
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


# --- phases and expectations -----------------------------------------------------------------


def _phases(load: LoadSpec, faults: tuple[FaultSpec, ...]) -> Mapping[str, tuple[float, float]]:
    """The phases as planned: the same rule the results apply to the faults as they happened."""
    planned = [Window(f.target, f.at_s, f.ends_s) for f in faults]
    return MappingProxyType(phase_bounds(planned, load.warmup_s, load.duration_s))


def _subset(at: At, styles: tuple[str, ...]) -> tuple[str, ...]:
    chosen = read_choices(at, STYLES, "style")
    for item, style in zip(at.items(), chosen, strict=True):
        if style not in styles:
            raise item.error(f"{style} is not one of the scenario's styles ({', '.join(styles)})")
    return chosen


def _shares(at: At, replicas: int) -> dict[str, float]:
    """Each replica's least share of its service's requests: at most an even split (1/N)."""
    if replicas == 1:
        raise at.error("needs several replicas: stack.replicas is 1", line=at.entry_line)
    even = 1 / replicas
    return {
        service: read_number(
            field, f"a share above 0, at most 1/{replicas} (an even split)", lambda r: 0 < r <= even
        )
        for service, field in at.fields(SERVICES).items()
    }


def _ratios(at: At, phases: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for name, field in at.fields(PHASES).items():
        if name not in phases:
            why = "it has no faults" if "during" not in phases else "its first fault starts then"
            raise field.error(f"this scenario has no {name} phase: {why}", line=field.entry_line)
        ratios[name] = read_number(field, "a ratio from 0 to 1", lambda r: 0 <= r <= 1)
    return ratios
