"""How a scenario becomes Locust's load, and how its expectations are judged."""

from __future__ import annotations

from pathlib import Path

from harness.scenarios.run import _expectations, _load
from harness.scenarios.spec import parse_scenario

HEAD = "name: s\ndescription: d\n"


def test_a_closed_scenario_runs_its_users() -> None:
    scenario = parse_scenario(HEAD + "load: {model: closed, users: 7, duration: 20s}\n", Path("s"))
    load = _load(scenario)
    assert (load.users, load.rate, load.duration_s, load.surge) == (7, None, 20.0, None)


def test_a_spike_sizes_the_open_pool_for_its_peak_and_rides_with_the_load() -> None:
    text = HEAD + (
        "load: {model: open, rate: 30, duration: 40s}\n"
        "faults:\n  - {at: 10s, duration: 5s, target: load, kind: spike, factor: 4}\n"
    )
    load = _load(parse_scenario(text, Path("s")))
    assert load.rate == 30.0 and load.users == 120  # one user per arrival a second at the peak
    assert load.surge is not None
    assert (load.surge.at_s, load.surge.duration_s, load.surge.factor) == (10.0, 5.0, 4.0)


def test_expectations_apply_to_their_styles_and_say_what_was_seen() -> None:
    text = HEAD + (
        "load: {model: closed, users: 2, duration: 20s}\n"
        "styles: [rest, broker]\n"
        "expect:\n"
        "  - {styles: [broker], zero: [lost, stuck]}\n"
        "  - {min_success_ratio: {before: 0.99}}\n"
    )
    scenario = parse_scenario(text, Path("s"))
    result = {
        "audit": {"counts": {"lost": 0, "stuck": 2}},
        "scenario": {"phases": {"before": {"success_ratio": 0.98}}},
    }
    assert _expectations(scenario.expect, "broker", result) == [
        {"check": "lost == 0", "seen": 0, "passed": True},
        {"check": "stuck == 0", "seen": 2, "passed": False},
        {"check": "before success >= 0.99", "seen": 0.98, "passed": False},
    ]
    assert len(_expectations(scenario.expect, "rest", result)) == 1
