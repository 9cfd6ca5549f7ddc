"""runner.py: what the load generator cost while the load ran, without its start-up."""

from __future__ import annotations

import io

import pytest

from harness.bench.runner import _Watch


def watch(cpu_s: float, at_start: float | None, started: float, load_started: float) -> _Watch:
    found = _Watch("rest", "calibration", 10.0, io.StringIO())
    found.started, found.load_started, found.ended = started, load_started, load_started + 10.0
    found.cpu_s, found.cpu_at_start_s = cpu_s, at_start
    return found


def test_the_measured_cpu_leaves_out_what_locust_used_before_the_load_started() -> None:
    # 9.5 s of CPU in all, 1.5 s of it starting up: 8 s over the load's 10 s.
    generator = watch(9.5, 1.5, started=100.0, load_started=102.0).load_generator(processes=1)
    assert generator["measured_cpu_s"] == pytest.approx(8.0)
    assert generator["core_per_process"] == 0.8
    assert generator["cpu_cores"] == round(9.5 / 12.0, 2)  # the whole run, start-up included


def test_the_share_of_a_core_is_per_locust_process() -> None:
    generator = watch(9.5, 1.5, started=100.0, load_started=102.0).load_generator(processes=2)
    assert generator["core_per_process"] == 0.4


def test_without_the_loads_start_the_measured_cpu_is_unknown() -> None:
    generator = watch(9.5, None, started=100.0, load_started=0.0).load_generator(processes=1)
    assert generator["measured_cpu_s"] is None and generator["core_per_process"] is None


def test_with_remote_workers_the_figures_say_they_are_the_masters_alone() -> None:
    generator = watch(2.0, 0.5, started=100.0, load_started=102.0).load_generator(
        processes=1, remote_workers=3
    )
    assert generator["remote_workers"] == 3
    assert any("3 Locust workers started outside this bench" in w for w in generator["warnings"])


def test_without_remote_workers_there_is_no_such_field() -> None:
    generator = watch(2.0, 0.5, started=100.0, load_started=102.0).load_generator(processes=1)
    assert "remote_workers" not in generator
