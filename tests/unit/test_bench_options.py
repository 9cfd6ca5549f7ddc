"""`orderflow bench`'s arguments: what a command line plans, and what it refuses up front."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import pytest

from harness.bench.options import (
    Capacity,
    InvalidArguments,
    add_arguments,
    host_port,
    plan,
    scenario_styles,
)
from harness.bench.runner import Load, Workers
from harness.vocabulary import STYLES


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_the_defaults_run_every_style_closed_with_ten_users_for_30_seconds() -> None:
    bench = plan(parse())
    assert bench.styles == STYLES
    assert bench.load == Load(users=10, rate=None, duration_s=30.0, processes=1)
    assert bench.load.model == "closed"
    assert bench.calibration_s == 10.0
    assert bench.capacity is None
    assert bench.target is None
    assert bench.out is None


def test_the_styles_run_in_the_order_given() -> None:
    assert plan(parse("--styles", "broker, rest,grpc")).styles == ("broker", "rest", "grpc")


def test_the_target_and_the_results_folder_are_kept() -> None:
    bench = plan(parse("--target", "http://10.0.0.5:8000", "--out", "runs/a"))
    assert bench.target == "http://10.0.0.5:8000"
    assert bench.out == Path("runs/a")


def test_closed_model_users_duration_and_processes() -> None:
    bench = plan(parse("--users", "25", "--duration", "2m", "--processes", "4"))
    assert bench.load == Load(users=25, rate=None, duration_s=120.0, processes=4)


@pytest.mark.parametrize(
    ("duration", "calibration"), [("5s", 5.0), ("10s", 10.0), ("30s", 10.0), ("2m", 10.0)]
)
def test_calibration_defaults_to_the_duration_up_to_ten_seconds(
    duration: str, calibration: float
) -> None:
    assert plan(parse("--duration", duration)).calibration_s == calibration


def test_calibration_can_be_set_or_skipped() -> None:
    assert plan(parse("--calibration", "3s")).calibration_s == 3.0
    assert plan(parse("--no-calibration")).calibration_s is None
    assert plan(parse("--no-calibration", "--calibration", "3s")).calibration_s is None


@pytest.mark.parametrize("rate", [50.0, 5.0, 10.0, 12.5, 250.0])
def test_a_rate_is_the_open_model_with_a_pool_of_at_least_ten_users(rate: float) -> None:
    bench = plan(parse("--rate", f"{rate:g}"))
    assert bench.load == Load(users=max(10, math.ceil(rate)), rate=rate, duration_s=30.0)
    assert bench.load.model == "open"


def test_a_rate_of_50_pools_50_users() -> None:
    assert plan(parse("--rate", "50")).load.users == 50


def test_users_given_with_a_rate_size_the_pool() -> None:
    bench = plan(parse("--rate", "50", "--users", "7"))
    assert (bench.load.users, bench.load.rate) == (7, 50.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("2m", 120.0), ("7", 7.0), (" 45s ", 45.0)],
)
def test_a_duration_in_whole_seconds_or_minutes(text: str, seconds: float) -> None:
    assert parse("--duration", text).duration == pytest.approx(seconds)


# Locust runs for whole seconds: a fraction would pass here and fail once the stack is up.
@pytest.mark.parametrize("text", ["3x", "0s", "-1s", "0", "s", "", "1h", "2 m", "500ms", "1.5s"])
def test_a_duration_that_is_not_one_is_refused_by_the_parser(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(f"--duration={text}")
    assert exited.value.code == 2
    assert "--duration" in capsys.readouterr().err


@pytest.mark.parametrize(
    "styles", ["rest,soap", "grpc,REST", "", " , ", "rest,rest", "grpc,broker,grpc"]
)
def test_unknown_or_repeated_styles_are_refused(styles: str) -> None:
    with pytest.raises(InvalidArguments, match="--styles"):
        plan(parse("--styles", styles))


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--users", "0"),
        ("--users", "-3"),
        ("--rate", "0"),
        ("--rate", "-10"),
        ("--processes", "0"),
        ("--processes", "-1"),
    ],
)
def test_a_count_or_rate_that_is_not_positive_is_refused(flag: str, value: str) -> None:
    with pytest.raises(InvalidArguments, match=flag):
        plan(parse(f"{flag}={value}"))


def test_find_capacity_with_a_rate_is_refused() -> None:
    with pytest.raises(InvalidArguments, match="--rate") as refused:
        plan(parse("--find-capacity", "--rate", "100"))
    assert "--find-capacity" in str(refused.value)


@pytest.mark.parametrize(("start", "top"), [("100", "50"), ("10", "9.5")])
def test_a_max_rate_below_the_start_rate_is_refused(start: str, top: str) -> None:
    with pytest.raises(InvalidArguments, match="--max-rate"):
        plan(parse("--find-capacity", "--start-rate", start, "--max-rate", top))


def test_a_max_rate_equal_to_the_start_rate_is_accepted() -> None:
    capacity = plan(parse("--find-capacity", "--start-rate", "40", "--max-rate", "40")).capacity
    assert capacity is not None
    assert capacity.start_rate == capacity.max_rate == 40.0


@pytest.mark.parametrize(("flag", "value"), [("--start-rate", "0"), ("--max-error-rate", "-0.1")])
def test_capacity_settings_that_are_not_positive_are_refused(flag: str, value: str) -> None:
    with pytest.raises(InvalidArguments, match=flag):
        plan(parse("--find-capacity", f"{flag}={value}"))


def test_find_capacity_defaults() -> None:
    bench = plan(parse("--find-capacity"))
    assert bench.capacity == Capacity(
        slo_p99_ms=250.0,
        max_error_rate=0.001,
        step_s=10.0,
        start_rate=10.0,
        max_rate=2000.0,
        growth=1.5,
        pool=None,
    )
    # The first step: the open model at the start rate, for one step.
    assert bench.load == Load(users=10, rate=10.0, duration_s=10.0, processes=1)


def test_find_capacity_settings() -> None:
    bench = plan(
        parse(
            "--find-capacity",
            "--slo-p99", "100ms",
            "--max-error-rate", "0.01",
            "--step", "20s",
            "--start-rate", "40",
            "--max-rate", "500",
            "--processes", "2",
        )
    )  # fmt: skip
    assert bench.capacity is not None
    assert bench.capacity.slo_p99_ms == pytest.approx(100.0)
    assert dataclasses.replace(bench.capacity, slo_p99_ms=100.0) == Capacity(
        slo_p99_ms=100.0,
        max_error_rate=0.01,
        step_s=20.0,
        start_rate=40.0,
        max_rate=500.0,
        growth=1.5,
        pool=None,
    )
    assert bench.load == Load(users=40, rate=40.0, duration_s=20.0, processes=2)


def test_find_capacity_keeps_the_users_given_as_the_pool() -> None:
    bench = plan(parse("--find-capacity", "--users", "64"))
    assert (bench.load.users, bench.load.rate) == (64, 10.0)
    assert bench.capacity is not None and bench.capacity.pool == 64  # at every step


@pytest.mark.parametrize(("text", "ms"), [("1s", 1000.0), ("0.5s", 500.0), ("250", 250.0)])
def test_an_slo_is_kept_in_milliseconds_a_bare_number_being_ms(text: str, ms: float) -> None:
    capacity = plan(parse("--find-capacity", "--slo-p99", text)).capacity
    assert capacity is not None
    assert capacity.slo_p99_ms == ms


def test_a_profile_for_the_stack_bench_starts_but_not_for_a_target() -> None:
    assert plan(parse("--profile", "resilient")).profile == "resilient"
    assert plan(parse()).profile is None  # then ORDERFLOW_PROFILE decides
    with pytest.raises(InvalidArguments, match="--profile"):
        plan(parse("--profile", "resilient", "--target", "http://127.0.0.1:8000"))


def test_a_scenario_file_is_the_optional_first_argument() -> None:
    assert parse("scenarios/baseline.yaml").scenario == Path("scenarios/baseline.yaml")
    assert parse().scenario is None


def test_a_scenario_runs_its_own_styles_or_the_subset_asked_for() -> None:
    listed = ("rest", "grpc", "broker")
    assert scenario_styles(parse("x.yaml"), listed) == listed
    assert scenario_styles(parse("x.yaml", "--styles", "broker,rest"), listed) == (
        "broker",
        "rest",
    )
    with pytest.raises(InvalidArguments, match=r"--styles: \['graphql'\] not in the scenario"):
        scenario_styles(parse("x.yaml", "--styles", "graphql"), listed)
    # A variant runs under its style's entry of the file (its faults, its expectations).
    assert scenario_styles(parse("x.yaml", "--styles", "broker,broker-amqp"), listed) == (
        "broker",
        "broker-amqp",
    )
    with pytest.raises(InvalidArguments, match=r"\['rest-sse'\] not in the scenario"):
        scenario_styles(parse("x.yaml", "--styles", "rest-sse"), ("broker",))


def test_the_variants_run_when_named_and_not_by_default() -> None:
    assert plan(parse()).styles == STYLES
    named = plan(parse("--styles", "rest,rest-sse,broker,broker-amqp")).styles
    assert named == ("rest", "rest-sse", "broker", "broker-amqp")


@pytest.mark.parametrize(
    "flag",
    [
        ["--users", "3"],
        ["--rate", "5"],
        ["--duration", "10s"],
        ["--calibration", "5s"],
        ["--no-calibration"],
        ["--target", "http://127.0.0.1:8000"],
        ["--find-capacity"],
    ],
)
def test_what_a_scenario_file_sets_cannot_also_be_a_flag(flag: list[str]) -> None:
    with pytest.raises(InvalidArguments, match=f"{flag[0]}: the scenario file sets the load"):
        scenario_styles(parse("x.yaml", *flag), ("rest",))


def test_without_a_scenario_the_defaults_stand() -> None:
    bench = plan(parse())
    assert bench.load.duration_s == 30.0 and len(bench.styles) == 5


def test_a_bench_is_untraced_unless_asked_and_then_samples_one_order_in_ten() -> None:
    assert plan(parse()).traces is None  # figures comparable with every untraced run
    assert plan(parse("--traces")).traces == 0.1
    assert plan(parse("--traces", "1")).traces == 1.0
    assert plan(parse("--traces", "0.25", "--styles", "rest")).traces == 0.25


@pytest.mark.parametrize("ratio", ["0", "1.5", "-0.1", "all"])
def test_a_sampling_ratio_outside_0_to_1_is_refused(
    ratio: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse("--traces", ratio)
    assert f"not a ratio: {ratio!r}" in capsys.readouterr().err


def test_traces_are_refused_for_a_running_target() -> None:
    with pytest.raises(InvalidArguments, match="--traces traces the stack bench starts"):
        plan(parse("--traces", "--target", "http://127.0.0.1:8000"))


# Distributed load: --master-bind and --expect-workers (docs/bench.md, Distributed load).


def test_the_master_binds_where_told_and_waits_for_the_workers() -> None:
    bench = plan(parse("--master-bind", "0.0.0.0:6000", "--expect-workers", "3", "--users", "9"))
    assert bench.load.workers == Workers("0.0.0.0", 6000, 3)
    assert bench.load.processes == 1


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("10.0.0.5", "10.0.0.5", 5557),
        ("bench.example:7000", "bench.example", 7000),
        ("[::1]:5600", "::1", 5600),
        ("[::]", "::", 5557),
    ],
)
def test_a_master_address_is_host_and_port_locusts_5557_by_default(
    text: str, host: str, port: int
) -> None:
    assert host_port(text) == (host, port)


@pytest.mark.parametrize("text", ["", "host:", "host:0", "host:70000", "::1:5557", "a b:1"])
def test_a_master_address_that_is_not_one_is_refused_by_the_parser(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse("--master-bind", text)
    assert "not HOST[:PORT]" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--master-bind", "127.0.0.1:6000"], ["--expect-workers", "2"]])
def test_master_bind_and_expect_workers_go_together(argv: list[str]) -> None:
    with pytest.raises(InvalidArguments, match=r"--master-bind HOST.*go together"):
        plan(parse(*argv))


@pytest.mark.parametrize("count", ["0", "-2"])
def test_the_workers_expected_must_be_positive(count: str) -> None:
    with pytest.raises(InvalidArguments, match="--expect-workers must be positive"):
        plan(parse("--master-bind", "127.0.0.1", "--expect-workers", count))


def test_local_processes_and_remote_workers_are_refused_together() -> None:
    argv = ("--master-bind", "127.0.0.1", "--expect-workers", "2", "--processes", "2")
    with pytest.raises(InvalidArguments, match="--processes forks local Locust processes"):
        plan(parse(*argv))


def test_every_worker_needs_a_user() -> None:
    with pytest.raises(InvalidArguments, match="3 users cannot keep 4 workers busy"):
        plan(parse("--master-bind", "127.0.0.1", "--expect-workers", "4", "--users", "3"))
    # The open model's pool (at least 10) counts, and so do the users a capacity search gets.
    assert plan(parse("--master-bind", "h", "--expect-workers", "4", "--rate", "5")).load.users
    with pytest.raises(InvalidArguments, match="cannot keep 12 workers busy"):
        plan(parse("--master-bind", "h", "--expect-workers", "12", "--find-capacity"))


def test_workers_run_a_capacity_search_too() -> None:
    argv = ("--master-bind", "h:6001", "--expect-workers", "2", "--find-capacity")
    assert plan(parse(*argv)).load.workers == Workers("h", 6001, 2)


def test_the_master_command_waits_for_the_workers_and_tells_them_they_relay() -> None:
    workers = Workers("0.0.0.0", 6000, 2)
    options = workers.options()
    for flag, value in [
        ("--master-bind-host", "0.0.0.0"),
        ("--master-bind-port", "6000"),
        ("--expect-workers", "2"),
        ("--orderflow-workers", "2"),  # handed to every worker with the master's options
    ]:
        assert options[options.index(flag) + 1] == value
    assert "--master" in options and "--expect-workers-max-wait" in options


# The stack bench starts: --store and --replicas.


def test_the_stack_is_on_sqlite_with_one_replica_by_default() -> None:
    bench = plan(parse())
    assert (bench.store, bench.replicas) == ("sqlite", 1)


def test_the_stack_can_be_on_postgresql() -> None:
    assert plan(parse("--store", "postgres")).store == "postgres"


def test_a_store_the_bench_does_not_know_is_refused_by_the_parser() -> None:
    with pytest.raises(SystemExit):
        parse("--store", "mysql")


@pytest.mark.parametrize("argv", [["--store", "postgres"], ["--replicas", "2"]])
def test_store_and_replicas_are_refused_for_a_running_target(argv: list[str]) -> None:
    with pytest.raises(InvalidArguments, match="a --target has its own"):
        plan(parse("--target", "http://10.0.0.5:8000", *argv))


def test_replicas_need_postgresql() -> None:
    with pytest.raises(InvalidArguments, match="--replicas needs --store postgres"):
        plan(parse("--replicas", "2"))


@pytest.mark.parametrize("count", ["0", "-1"])
def test_replicas_must_be_positive(count: str) -> None:
    with pytest.raises(InvalidArguments, match="--replicas must be positive"):
        plan(parse("--replicas", count))


def test_replicas_on_postgresql_shape_the_stack_with_their_grpc_balancing() -> None:
    chosen = plan(parse("--store", "postgres", "--replicas", "3", "--grpc-balancing", "client"))
    assert (chosen.store, chosen.replicas, chosen.grpc_balancing) == ("postgres", 3, "client")
    assert plan(parse("--store", "postgres", "--replicas", "2")).grpc_balancing == "proxy-l7"


def test_grpc_balancing_without_replicas_is_refused() -> None:
    with pytest.raises(InvalidArguments, match="--grpc-balancing chooses among replicas"):
        plan(parse("--grpc-balancing", "client"))


@pytest.mark.parametrize(
    "flag",
    [
        ["--store", "postgres"],
        ["--replicas", "2"],
        ["--master-bind", "127.0.0.1"],
        ["--expect-workers", "2"],
    ],
)
def test_a_scenario_run_refuses_the_distributed_and_stack_flags(flag: list[str]) -> None:
    with pytest.raises(InvalidArguments, match=f"{flag[0]}: the scenario file"):
        scenario_styles(parse("scenarios/x.yaml", *flag), ("rest",))


def test_the_wait_for_workers_is_two_minutes_unless_told() -> None:
    argv = ("--master-bind", "h", "--expect-workers", "2")
    assert plan(parse(*argv)).load.workers == Workers("h", 5557, 2, 120.0)
    assert plan(parse(*argv, "--workers-wait", "5s")).load.workers == Workers("h", 5557, 2, 5.0)
    with pytest.raises(InvalidArguments, match="--workers-wait is for --expect-workers"):
        plan(parse("--workers-wait", "5s"))


def test_the_own_stack_listens_on_loopback_unless_told() -> None:
    assert plan(parse()).stack_host == "127.0.0.1"
    assert plan(parse("--stack-host", "10.0.0.5")).stack_host == "10.0.0.5"
    with pytest.raises(InvalidArguments, match="--stack-host sets the stack bench starts"):
        plan(parse("--stack-host", "10.0.0.5", "--target", "http://10.0.0.6:8000"))
    with pytest.raises(InvalidArguments, match="--stack-host: the scenario file"):
        scenario_styles(parse("scenarios/x.yaml", "--stack-host", "10.0.0.5"), ("rest",))


def test_the_own_stack_uses_the_machines_broker_unless_a_private_one_is_asked_for() -> None:
    assert plan(parse()).private_broker is False
    assert plan(parse("--private-broker", "--styles", "broker")).private_broker is True


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--target", "http://10.0.0.6:8000"], "a --target has its own"),
        (["--stack-host", "10.0.0.5"], "listens on 127.0.0.1 only"),
    ],
)
def test_a_private_broker_is_refused_where_it_cannot_serve(argv: list[str], why: str) -> None:
    with pytest.raises(InvalidArguments, match=f"--private-broker.*{why}"):
        plan(parse("--private-broker", *argv))


def test_a_scenario_run_refuses_a_private_broker_flag_it_decides_itself() -> None:
    with pytest.raises(InvalidArguments, match="--private-broker: the scenario file"):
        scenario_styles(parse("scenarios/x.yaml", "--private-broker"), ("broker",))
