"""results.py: statistics from raw samples, and the document checked against its schema."""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError  # type: ignore[import-untyped]

from harness.bench.cost import cpu_section
from harness.bench.results import (
    SCHEMA,
    Sample,
    capacity_step,
    load_samples,
    operation_stats,
    per_second,
    results_document,
    style_result,
    write_results,
)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "results.schema.json"
T0 = 1_763_870_000.0


def write_sample_file(
    path: Path, samples: list[list[Any]], *, phase: str = "load", started_at: float = T0
) -> Path:
    document = {
        "format": 1,
        "style": "rest",
        "phase": phase,
        "started_at": started_at,
        "samples": samples,
    }
    path.write_text(json.dumps(document))
    return path


def sample(
    latency_ms: float, operation: str = "get_order", at: float = T0, error: str | None = None
) -> Sample:
    return Sample(at, operation, latency_ms, error)


def test_files_are_merged_in_time_with_absolute_times(tmp_path: Path) -> None:
    first = write_sample_file(
        tmp_path / "a.json", [[0.5, "browse_catalog", 4.2, None]], started_at=T0
    )
    second = write_sample_file(
        tmp_path / "b.json", [[0.25, "place_order", 88.0, "HTTP 503: busy"]], started_at=T0 + 0.1
    )
    assert load_samples([first, second]) == [
        Sample(T0 + 0.35, "place_order", 88.0, "HTTP 503: busy"),
        Sample(T0 + 0.5, "browse_catalog", 4.2, None),
    ]


def test_a_file_that_is_not_json_is_named_in_the_error(tmp_path: Path) -> None:
    good = write_sample_file(tmp_path / "good.json", [])
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": 1, "samples": [')
    with pytest.raises(ValueError, match=re.escape(str(broken))):
        load_samples([good, broken])


def test_a_file_of_another_format_is_named_in_the_error(tmp_path: Path) -> None:
    other = tmp_path / "v2.json"
    other.write_text(json.dumps({"format": 2, "started_at": T0, "samples": []}))
    with pytest.raises(ValueError, match=r"v2\.json.*format 1"):
        load_samples([other])


def test_a_malformed_sample_is_named_in_the_error(tmp_path: Path) -> None:
    short = write_sample_file(tmp_path / "short.json", [[0.1, "noop", 1.0]])
    with pytest.raises(ValueError, match=re.escape(str(short))):
        load_samples([short])


def test_percentiles_are_by_nearest_rank() -> None:
    # Interpolation would give a median of 25; nearest rank always reports an observed value.
    stats = operation_stats([sample(ms) for ms in (40.0, 10.0, 30.0, 20.0)], duration_s=1.0)
    assert (stats["p50_ms"], stats["p95_ms"], stats["p99_ms"], stats["max_ms"]) == (
        20.0,
        40.0,
        40.0,
        40.0,
    )
    assert stats["mean_ms"] == 25.0


def test_percentiles_over_a_hundred_values() -> None:
    latencies = [float(ms) for ms in range(1, 101)]
    random.Random(7).shuffle(latencies)
    stats = operation_stats([sample(ms) for ms in latencies], duration_s=10.0)
    assert (stats["p50_ms"], stats["p95_ms"], stats["p99_ms"], stats["max_ms"]) == (
        50.0,
        95.0,
        99.0,
        100.0,
    )


def test_failures_count_as_latency_and_in_the_error_rate() -> None:
    samples = [sample(5.0) for _ in range(7)] + [sample(3000.0, error="timeout")]
    stats = operation_stats(samples, duration_s=4.0)
    assert stats["count"] == 8
    assert stats["failures"] == 1
    assert stats["error_rate"] == 0.125
    assert stats["p99_ms"] == 3000.0
    assert stats["per_s"] == 2.0
    assert stats["errors"] == {"timeout": 1}


def test_values_are_rounded() -> None:
    stats = operation_stats([sample(1.26), sample(1.0), sample(1.0)], duration_s=3.0001)
    assert stats["max_ms"] == 1.3
    assert stats["mean_ms"] == 1.1
    assert stats["per_s"] == 1.0


def test_only_the_ten_most_frequent_errors_are_kept() -> None:
    samples = [sample(1.0, error=f"error {kind}") for kind in range(12) for _ in range(kind + 1)]
    errors = operation_stats(samples, duration_s=1.0)["errors"]
    assert list(errors) == [f"error {kind}" for kind in range(11, 1, -1)]
    assert errors["error 11"] == 12


def test_an_operation_without_samples_has_no_latency() -> None:
    stats = operation_stats([], duration_s=10.0)
    assert stats["count"] == stats["failures"] == 0
    assert stats["per_s"] == stats["error_rate"] == 0.0
    assert [stats[k] for k in ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")] == [None] * 5
    assert stats["errors"] == {}


def test_per_second_buckets_by_whole_seconds_and_clamps_the_ends() -> None:
    samples = [
        sample(1.0, at=T0 - 0.5),  # early: first second
        sample(2.0, at=T0 + 0.2),
        sample(3.0, at=T0 + 1.9),
        sample(4.0, at=T0 + 2.0),
        sample(9.0, at=T0 + 7.0, error="late"),  # after the end: last second
    ]
    seconds = per_second(samples, t0=T0, duration_s=2.5)
    assert [entry["second"] for entry in seconds] == [0, 1, 2]
    counts = [entry["operations"]["get_order"]["count"] for entry in seconds]
    assert counts == [2, 1, 2]
    last = seconds[2]["operations"]["get_order"]
    assert last == {"count": 2, "failures": 1, "p50_ms": 4.0, "p99_ms": 9.0, "max_ms": 9.0}


def test_a_second_lists_only_the_operations_seen_in_it() -> None:
    samples = [sample(1.0, "browse_catalog", at=T0), sample(1.0, "place_order", at=T0 + 1.5)]
    seconds = per_second(samples, t0=T0, duration_s=2.0)
    assert [list(entry["operations"]) for entry in seconds] == [["browse_catalog"], ["place_order"]]


def load_phase() -> list[Sample]:
    """10 s of load: 40 browses, 10 orders placed, 8 completed well, 1 failed, 1 request error."""
    browses = [sample(4.0, "browse_catalog", at=T0 + i / 4) for i in range(40)]
    placed = [sample(20.0, "place_order", at=T0 + i) for i in range(9)]
    placed.append(sample(50.0, "place_order", at=T0 + 9, error="HTTP 503: busy"))
    completed = [sample(100.0 + i, "order_completed", at=T0 + i + 0.1) for i in range(8)]
    completed.append(sample(900.0, "order_completed", at=T0 + 9.1, error="CANCELLED"))
    return browses + placed + completed


LOAD_GENERATOR = {
    "cpu_s": 4.2,
    "cpu_cores": 0.42,
    "measured_cpu_s": 3.9,
    "busiest_core": 0.42,
    "core_per_process": 0.4,
    "processes": 1,
    "saturated": False,
    "warnings": [],
}


def test_the_summary_separates_requests_from_completed_orders() -> None:
    result = style_result(load_phase(), None, 10.0, None, LOAD_GENERATOR)
    assert result["summary"] == {
        "requests": 50,
        "requests_per_s": 5.0,
        "orders_completed": 8,
        "orders_per_s": 0.8,
        "error_rate": round(2 / 59, 4),
        "order_p50_ms": 104.0,
        "order_p95_ms": 900.0,
        "order_p99_ms": 900.0,
        "order_max_ms": 900.0,
    }
    assert list(result["operations"]) == [
        "browse_catalog",
        "place_order",
        "order_completed",
    ]
    assert result["calibration"] is None
    assert result["load_generator"] == LOAD_GENERATOR


def test_per_second_of_a_style_starts_at_its_first_sample() -> None:
    load = [sample(1.0, at=T0 + 3.0 + i) for i in range(4)]
    result = style_result(load, None, 4.0, None, LOAD_GENERATOR)
    assert [entry["operations"]["get_order"]["count"] for entry in result["per_second"]] == [1] * 4


def test_calibration_gives_the_ceiling_and_the_order_ratio() -> None:
    noops = [sample(0.5, "noop", at=T0 + i / 100) for i in range(400)]
    result = style_result(load_phase(), noops, 10.0, 5.0, LOAD_GENERATOR, LOAD_GENERATOR)
    assert result["calibration"] == {
        "operation": "noop",
        "duration_s": 5.0,
        "per_s": 80.0,
        "p50_ms": 0.5,
        "p99_ms": 0.5,
        "error_rate": 0.0,
        "order_ratio": 0.01,  # 0.8 orders/s against a ceiling of 80/s
        "load_generator": LOAD_GENERATOR,
        "load_generator_limited": False,
    }


@pytest.mark.parametrize(
    ("core", "saturated", "limited"),
    [(0.5, False, False), (0.74, False, False), (0.75, False, True), (0.5, True, True)],
)
def test_a_ceiling_is_the_load_generators_when_a_locust_process_nears_a_core(
    core: float, saturated: bool, limited: bool
) -> None:
    generator = {**LOAD_GENERATOR, "core_per_process": core, "saturated": saturated}
    noops = [sample(0.5, "noop", at=T0 + i / 100) for i in range(400)]
    result = style_result(load_phase(), noops, 10.0, 5.0, LOAD_GENERATOR, generator)
    assert result["calibration"]["load_generator_limited"] is limited


def test_no_ratio_without_a_ceiling() -> None:
    result = style_result(load_phase(), [], 10.0, 5.0, LOAD_GENERATOR, LOAD_GENERATOR)
    assert result["calibration"]["per_s"] == 0.0
    assert result["calibration"]["order_ratio"] is None


def test_calibration_samples_need_their_duration_and_load_generator() -> None:
    with pytest.raises(ValueError, match="calibration_s"):
        style_result(load_phase(), [sample(0.5, "noop")], 10.0, None, LOAD_GENERATOR)
    with pytest.raises(ValueError, match="load_generator"):
        style_result(load_phase(), [sample(0.5, "noop")], 10.0, 5.0, LOAD_GENERATOR)


def test_a_capacity_step_holds_within_the_slo() -> None:
    step = capacity_step(
        load_phase(), rate=5.0, step_s=10.0, slo_p99_ms=1000.0, max_error_rate=0.05
    )
    assert step == {
        "rate": 5.0,
        "per_s": 0.8,
        "p99_ms": 900.0,
        "error_rate": 0.0339,
        "load_generator_saturated": False,
        "held": True,
    }


def test_a_step_with_a_saturated_load_generator_is_not_held() -> None:
    step = capacity_step(load_phase(), 5.0, 10.0, 1000.0, 0.05, saturated=True)
    assert (step["load_generator_saturated"], step["held"]) == (True, False)


@pytest.mark.parametrize(
    ("slo_p99_ms", "max_error_rate"), [(899.0, 0.05), (1000.0, 0.03)], ids=["slow", "errors"]
)
def test_a_capacity_step_over_the_slo_is_not_held(slo_p99_ms: float, max_error_rate: float) -> None:
    step = capacity_step(load_phase(), 5.0, 10.0, slo_p99_ms, max_error_rate)
    assert step["held"] is False


def test_a_capacity_step_without_samples_is_not_held() -> None:
    step = capacity_step([], 5.0, 10.0, 1000.0, 0.05)
    assert (step["p99_ms"], step["held"]) == (None, False)


RUN = {
    "id": "2026-01-01T12-00-00",
    "started_at": "2026-01-01T12:00:00+00:00",
    "command": "orderflow bench --users 10",
    "model": "closed",
    "users": 10,
    "rate": None,
    "duration_s": 10.0,
    "calibration_s": 5.0,
    "processes": 1,
    "profile": "naive",
    "target": "127.0.0.1",
    "machine": {"cpus": 8, "python": "3.11.9", "platform": "Linux-6.8-x86_64"},
}


CPU_SPENT = {"order": 0.03, "inventory": 0.01, "payment": None, "locust": 0.02}


def full_document(tmp_path: Path) -> dict[str, Any]:
    rows = [[s.at - T0, s.operation, s.latency_ms, s.error] for s in load_phase()]
    load = load_samples([write_sample_file(tmp_path / "load.json", rows)])
    noops = [[i / 100, "noop", 0.4, None] for i in range(400)]
    calibration = load_samples(
        [write_sample_file(tmp_path / "cal.json", noops, phase="calibration")]
    )
    styles = {
        "rest": style_result(load, calibration, 10.0, 5.0, LOAD_GENERATOR, LOAD_GENERATOR),
        "broker": style_result(load, None, 10.0, None, LOAD_GENERATOR),
    }
    # The CPU figures as `orderflow bench` adds them (harness/cli/bench.py): with a bound where
    # the no-op was measured, without one where it was not.
    noop = {"server_ms": 0.12, "client_ms": 0.3}
    styles["rest"]["calibration"]["cpu_ms_per_call"] = noop
    not_counted = {"rabbitmq": "not started by this bench"}
    styles["rest"]["cpu"] = cpu_section("rest", CPU_SPENT, 8, noop, 0.015, not_counted)
    styles["broker"]["cpu"] = cpu_section("broker", CPU_SPENT, 8, None, 0.015, not_counted)
    steps = [capacity_step(load, rate, 10.0, 500.0, 0.01) for rate in (10.0, 20.0)]
    capacity = {
        "slo_p99_ms": 500.0,
        "max_error_rate": 0.01,
        "step_s": 10.0,
        "styles": {"rest": {"held_rate": None, "steps": steps}},
    }
    # A copy: the document holds RUN and LOAD_GENERATOR themselves, and tests change it.
    return copy.deepcopy(results_document(RUN, styles, capacity))


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_a_full_document_follows_the_schema(
    tmp_path: Path, validator: Draft202012Validator
) -> None:
    document = full_document(tmp_path)
    assert document["schema"] == SCHEMA
    assert list(validator.iter_errors(document)) == []


def test_a_document_without_capacity_follows_the_schema(
    tmp_path: Path, validator: Draft202012Validator
) -> None:
    document = full_document(tmp_path)
    document = results_document(document["run"], document["styles"])
    assert "capacity" not in document
    assert list(validator.iter_errors(document)) == []


def unknown_style(document: dict[str, Any]) -> None:
    document["styles"]["soap"] = document["styles"]["rest"]


def missing_summary(document: dict[str, Any]) -> None:
    del document["styles"]["rest"]["summary"]


def misspelled_stat(document: dict[str, Any]) -> None:
    stats = document["styles"]["rest"]["operations"]["place_order"]
    stats["p99"] = stats.pop("p99_ms")


def latency_as_text(document: dict[str, Any]) -> None:
    document["styles"]["rest"]["summary"]["order_p99_ms"] = "900"


def unknown_model(document: dict[str, Any]) -> None:
    document["run"]["model"] = "burst"


def unknown_capacity_style(document: dict[str, Any]) -> None:
    document["capacity"]["styles"]["Rest"] = document["capacity"]["styles"].pop("rest")


def negative_cpu(document: dict[str, Any]) -> None:
    document["styles"]["rest"]["cpu"]["processes"]["order"] = -1.5


def bound_without_hops(document: dict[str, Any]) -> None:
    del document["styles"]["rest"]["cpu"]["bound"]["hops"]


@pytest.mark.parametrize(
    ("mistake", "culprit"),
    [
        (negative_cpu, "-1.5"),
        (bound_without_hops, "'hops'"),
        (unknown_style, "'soap'"),
        (missing_summary, "'summary'"),
        (misspelled_stat, "'p99'"),
        (latency_as_text, "'900'"),
        (unknown_model, "'burst'"),
        (unknown_capacity_style, "'Rest'"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_document_with_a_mistake_does_not_follow_the_schema(
    tmp_path: Path,
    validator: Draft202012Validator,
    mistake: Callable[[dict[str, Any]], None],
    culprit: str,
) -> None:
    document = full_document(tmp_path)
    mistake(document)
    messages = [message for error in validator.iter_errors(document) for message in _told(error)]
    assert any(culprit in message for message in messages), messages


def _told(error: ValidationError) -> list[str]:
    """The error's message and, for a value that matched no alternative (a section that may be
    null), what each alternative found wrong."""
    return [error.message, *(message for cause in error.context or () for message in _told(cause))]


def test_results_are_written_as_indented_json_in_document_order(tmp_path: Path) -> None:
    document = full_document(tmp_path)
    path = write_results(tmp_path / "run", document)
    text = path.read_text()
    assert path == tmp_path / "run" / "results.json"
    assert text.endswith("}\n")
    assert text.startswith('{\n  "schema": "orderflow.bench/v1",\n  "run": {')
    assert json.loads(text) == document


def test_a_non_finite_number_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_results(tmp_path, results_document({"duration_s": float("nan")}, {}))
