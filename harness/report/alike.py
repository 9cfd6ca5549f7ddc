"""What runs must have in common for their figures to be set side by side (`orderflow compare`)
or taken together (`orderflow medians`): one list, so that the two commands warn of the same
things. Each command phrases its own warnings, and compare leaves out the one aspect it is most
often run to show (the resilience profile: its runs table shows it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from harness.report.model import Run
from harness.report.report import (
    describe_broker,
    describe_load,
    describe_machine,
    describe_store,
    time_scale,
)


@dataclass(frozen=True)
class Aspect:
    name: str
    read: Callable[[Run], str]


KIND: Final = Aspect("kind", lambda run: run.kind)
LOAD: Final = Aspect("load", lambda run: describe_load(run.meta))
TIME_SCALE: Final = Aspect("time scale", lambda run: f"x{time_scale(run.scenario):g}")
PROFILE: Final = Aspect("profile", lambda run: run.meta.profile)
STORE: Final = Aspect("store", lambda run: describe_store(run.meta))
BROKER: Final = Aspect("broker", lambda run: describe_broker(run.meta))
MACHINE: Final = Aspect("machine", lambda run: describe_machine(run.meta.machine))
ASPECTS: Final = (KIND, LOAD, TIME_SCALE, PROFILE, STORE, BROKER, MACHINE)


def unlike(
    runs: Sequence[Run], aspects: Sequence[Aspect] = ASPECTS
) -> list[tuple[Aspect, list[str]]]:
    """Each aspect in which the runs differ, with what each run has, run by run."""
    return [
        (aspect, values)
        for aspect in aspects
        if len(set(values := [aspect.read(run) for run in runs])) > 1
    ]
