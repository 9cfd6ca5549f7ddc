"""`--time-scale`: a scenario's whole timeline multiplied, rounded to whole seconds, still valid."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest

from harness.bench.options import InvalidArguments, add_arguments, plan
from harness.scenarios import Scenario, ScenarioError, load_scenario, parse_scenario
from harness.scenarios.scale import scaled

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
HERE = Path("scenarios/x.yaml")


def parse(text: str) -> Scenario:
    return parse_scenario(textwrap.dedent(text), HERE)


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


TWO_FAULTS = """\
    name: x
    description: two faults on payment, back to back
    load: {model: closed, users: 10, duration: 60s, warmup: 5s}
    faults:
      - {at: 15s, duration: 10s, target: payment, kind: crash}
      - {at: 25s, duration: 10s, target: payment, kind: pause}
    expect:
      - min_success_ratio: {before: 0.9, after: 0.9}
"""


def test_every_time_is_multiplied_and_the_factor_recorded() -> None:
    scenario = scaled(load_scenario(SCENARIOS / "payment-outage.yaml"), 0.2)
    assert (scenario.load.duration_s, scenario.load.warmup_s) == (9.0, 1.0)
    [crash] = scenario.faults
    assert (crash.at_s, crash.duration_s, crash.kind) == (3.0, 3.0, "crash")
    assert scenario.time_scale == 0.2
    assert scenario.phases == {"before": (1.0, 3.0), "during": (3.0, 6.0), "after": (6.0, 9.0)}


def test_a_scale_of_one_is_the_file_as_written() -> None:
    scenario = load_scenario(SCENARIOS / "payment-outage.yaml")
    assert scaled(scenario, 1.0) == scenario
    assert scenario.time_scale == 1.0


def test_a_scale_above_one_stretches_the_timeline() -> None:
    scenario = scaled(parse(TWO_FAULTS), 2.0)
    assert scenario.load.duration_s == 120.0
    assert [(f.at_s, f.duration_s) for f in scenario.faults] == [(30.0, 20.0), (50.0, 20.0)]


def test_faults_back_to_back_stay_apart_after_rounding() -> None:
    # 0.33: 15→5, 25→8.25→8, 35→11.55→12; rounding the lengths instead would make 5+3 and 8+4.
    first, second = scaled(parse(TWO_FAULTS), 0.33).faults
    assert (first.at_s, first.ends_s) == (5.0, 8.0)
    assert (second.at_s, second.ends_s) == (8.0, 12.0)
    assert first.ends_s <= second.at_s


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_runs_at_a_fifth_of_its_time(path: Path) -> None:
    # What the workshop's tests run: each must still have a before, a during and an after.
    scenario = scaled(load_scenario(path), 0.2)
    expected = {"before", "during", "after"} if scenario.faults else {"before"}
    assert set(scenario.phases) == expected


def test_a_fault_shrunk_to_nothing_is_refused_with_its_line() -> None:
    with pytest.raises(ScenarioError) as caught:
        scaled(parse(TWO_FAULTS), 0.04)  # 15→0.6→1, 25→1: no length left
    assert caught.value.line == 5
    assert caught.value.field == "faults"
    assert "--time-scale 0.04 shrinks payment crash at 15s for 10s to nothing" in str(caught.value)


def test_a_fault_that_would_end_with_the_load_is_refused() -> None:
    text = TWO_FAULTS.replace("duration: 60s", "duration: 36s")  # 35 < 36, but 3.5→4 == 3.6→4
    with pytest.raises(ScenarioError) as caught:
        scaled(parse(text), 0.1)
    assert caught.value.line == 6
    assert "end with the load (4s)" in caught.value.problem


def test_a_load_left_all_warmup_is_refused() -> None:
    text = "name: x\ndescription: d\nload: {model: closed, users: 1, duration: 10s, warmup: 9s}\n"
    with pytest.raises(ScenarioError) as caught:
        scaled(parse(text), 0.1)  # 10→1, 9→0.9→1
    assert caught.value.field == "load"


ONE_FAULT = """\
    name: x
    description: one fault, soon after the warmup
    load: {model: closed, users: 10, duration: 60s, warmup: 14s}
    faults:
      - {at: 15s, duration: 30s, target: payment, kind: crash}
    expect:
      - min_success_ratio: {before: 0.9}
"""


def test_an_expectation_left_without_its_phase_is_refused() -> None:
    assert scaled(parse(ONE_FAULT), 0.1).phases["before"] == (1.0, 2.0)  # 1.4→1, 1.5→2
    with pytest.raises(ScenarioError) as caught:
        scaled(parse(ONE_FAULT), 0.05)  # 0.7→1, 0.75→1: nothing before the fault
    assert caught.value.field == "expect"
    assert "no before phase" in caught.value.problem


@pytest.mark.parametrize("text", ["0", "0.001", "11", "abc", "", "-1"])
def test_a_time_scale_out_of_range_is_refused_by_the_parser(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(f"--time-scale={text}")
    assert exited.value.code == 2
    assert "--time-scale" in capsys.readouterr().err


def test_the_time_scale_is_read_as_a_factor() -> None:
    assert cli("x.yaml", "--time-scale", "0.25").time_scale == 0.25


def test_a_plain_run_refuses_a_time_scale() -> None:
    with pytest.raises(InvalidArguments, match=r"--time-scale.*--duration"):
        plan(cli("--time-scale", "0.5"))
