"""A scenario's timeline shrunk (or stretched) by a factor: `orderflow bench --time-scale 0.25`.

A workshop room rarely has four minutes per scenario, and a test cannot spend them: the same file
then runs with every time in it multiplied (the load, its warmup, each fault's start and end).
Only the shape is kept; how far a short run's numbers can be trusted is for the reader to judge,
so the factor is written into the results.

Locust runs for whole seconds, so every time is rounded to one. Rounding the points of the
timeline (a fault's start and its end), not the lengths, keeps their order: faults that did not
overlap still do not, and none moves into the warmup. What rounding can still break (a fault of
no length, one ending with the load, a phase an expectation needs) is refused, naming the fault.
"""

from __future__ import annotations

import math

from harness.bench.options import MAX_FACTOR, MIN_FACTOR
from harness.scenarios.nodes import ScenarioError
from harness.scenarios.spec import FaultSpec, LoadSpec, Scenario

__all__ = ["scaled"]


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """The scenario with every time multiplied by `factor` and rounded to whole seconds."""
    if not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise ValueError(f"a time scale from {MIN_FACTOR:g} to {MAX_FACTOR:g}, not {factor:g}")
    if factor == 1.0:
        return scenario
    load = _load(scenario, factor)
    faults = tuple(_fault(scenario, fault, factor, load) for fault in scenario.faults)
    shrunk = scenario.model_copy(update={"load": load, "faults": faults, "time_scale": factor})
    _phases_still_there(shrunk, factor)
    return shrunk


def _seconds(value: float, factor: float) -> float:
    """Rounded half up: Python's round() goes to even, and 2.5 s becoming 2 would surprise."""
    return float(math.floor(value * factor + 0.5))


def _load(scenario: Scenario, factor: float) -> LoadSpec:
    load = scenario.load
    total = max(1.0, _seconds(load.duration_s, factor))
    warmup = _seconds(load.warmup_s, factor)
    if warmup >= total:
        raise _too_far(
            scenario, None, "load", factor, f"leaves {total:g}s of load, all of it warmup"
        )
    return load.model_copy(update={"duration_s": total, "warmup_s": warmup})


def _fault(scenario: Scenario, fault: FaultSpec, factor: float, load: LoadSpec) -> FaultSpec:
    start, end = _seconds(fault.at_s, factor), _seconds(fault.ends_s, factor)
    if end <= start:
        problem = f"shrinks {fault.describe()} to nothing"
    elif end >= load.duration_s:
        problem = f"makes {fault.describe()} end with the load ({load.duration_s:g}s)"
    else:
        return fault.model_copy(update={"at_s": start, "duration_s": end - start})
    raise _too_far(scenario, fault.line, "faults", factor, problem)


def _phases_still_there(scenario: Scenario, factor: float) -> None:
    phases = scenario.phases
    for expectation in scenario.expect:
        for phase in expectation.min_success_ratio:
            if phase not in phases:
                raise _too_far(
                    scenario,
                    None,
                    "expect",
                    factor,
                    f"leaves no {phase} phase for min_success_ratio",
                )


def _too_far(
    scenario: Scenario, line: int | None, field: str, factor: float, problem: str
) -> ScenarioError:
    why = f"--time-scale {factor:g} {problem}: use a larger scale"
    return ScenarioError(scenario.path, line, field, why)
