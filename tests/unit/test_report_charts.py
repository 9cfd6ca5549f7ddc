"""The report's charts: inline SVG, deterministic, the fault windows shaded where the faults
really were, and each style's percentiles second by second as results.json buckets them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from harness.bench.results import per_second
from harness.bench.results_model import Second
from harness.bench.results_scenario_model import Fault
from harness.report import charts, load_run
from harness.report.series import Series, fault_windows, series
from tests.unit.report_documents import (
    FAULT,
    SECONDS,
    T0,
    WARMUP_S,
    load_samples,
    plain_document,
    scenario_document,
    scenario_samples,
    write_folder,
)


def rest_series(folder: Path, *, with_samples: bool = True) -> Series:
    samples = {"rest": scenario_samples("rest")} if with_samples else None
    run = load_run(write_folder(folder, scenario_document(), samples))
    return series(run.folder, "rest", run.styles["rest"], WARMUP_S)


def band_x(svg: str, gid: str) -> tuple[float, float]:
    """The left and right edge of a shaded band, in the SVG's own coordinates."""
    group = re.search(rf'<g id="{gid}">\s*<path d="([^"]+)"', svg)
    assert group, f"no band {gid}"
    xs = [float(x) for x in re.findall(r"(-?[\d.]+) -?[\d.]+", group.group(1))]
    return min(xs), max(xs)


def test_the_fault_window_is_shaded_in_every_panel_where_it_really_was(tmp_path: Path) -> None:
    found = rest_series(tmp_path)
    assert [(w.start_s, w.end_s, w.label) for w in found.faults] == [
        (4.0, 7.5, "payment crash at 4s for 3s")
    ]
    svg = charts.timeline(found)
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg
    ids = re.findall(r'<g id="(fault-[^"]+)"', svg)
    assert ids == ["fault-rest-0-0", "fault-rest-1-0", "fault-rest-2-0"]  # latency, load, queues
    assert re.findall(r'<g id="(warmup-[^"]+)"', svg) == [f"warmup-rest-{row}" for row in range(3)]
    assert "fill: #d62728; opacity: 0.15" in svg
    assert "fault: payment crash at 4s" in svg  # in the legend (wrapped to fit beside the plot)
    # On the x axis the warm-up spans 0 to 2 s and the fault 4 to 7.5 s: same scale, so the
    # fault starts twice the warm-up's width from the axis' start and is 1.75 times as wide.
    zero, warmup_end = band_x(svg, "warmup-rest-1")
    start, end = band_x(svg, "fault-rest-1-0")
    second = (warmup_end - zero) / WARMUP_S
    assert (start - zero) / second == pytest.approx(FAULT.start_s, abs=0.01)
    assert (end - zero) / second == pytest.approx(FAULT.end_s, abs=0.01)


def test_the_notification_backlog_is_drawn_with_the_queues(tmp_path: Path) -> None:
    """The orchestrated styles' queue is the order service's table of notifications owed: the
    report shows it fill and drain (no point while the order service did not answer)."""
    run = load_run(write_folder(tmp_path, scenario_document()))
    found = series(run.folder, "rest", run.styles["rest"], WARMUP_S)
    owed = found.queues["notifications owed (order)"]
    assert len(owed) == SECONDS - 1 and max(depth for _, depth in owed) == 5
    assert "notifications owed (order)" in charts.timeline(found)


def test_a_plain_run_has_no_fault_band_and_no_queue_panel(tmp_path: Path) -> None:
    run = load_run(write_folder(tmp_path, plain_document()))
    found = series(run.folder, "rest", run.styles["rest"], 0.0)
    assert found.faults == [] and found.queues == {}
    svg = charts.timeline(found)
    assert 'id="fault-' not in svg and 'id="warmup-' not in svg
    assert "queue depths" not in svg and "throughput, second by second" in svg


def fault(*, began_s: float | None, ended_s: float | None, description: str) -> Fault:
    return Fault(
        target="payment",
        kind="crash",
        params={},
        description=description,
        planned_s=[5.0, 8.0],
        began_s=began_s,
        ended_s=ended_s,
        errors=[],
    )


def test_a_fault_that_never_began_is_not_drawn_and_one_that_never_ended_lasts_to_the_end() -> None:
    faults = [
        fault(began_s=None, ended_s=None, description="never began"),
        fault(began_s=5.0, ended_s=None, description="never ended"),
    ]
    [window] = fault_windows(faults, 20)
    assert (window.start_s, window.end_s, window.label) == (5.0, 20, "never ended")


def test_the_p95_comes_from_the_raw_samples_bucketed_as_results_json_buckets_them(
    tmp_path: Path,
) -> None:
    found = rest_series(tmp_path)
    assert found.p95 == [40.0] * SECONDS
    # Slow orders in seconds 2 and 3 only: the p95 must show them there and nowhere else,
    # just as results.per_second's p99 does for the same samples.
    samples = load_samples(slow=range(2, 4))
    run = load_run(write_folder(tmp_path / "slow", plain_document(("rest",)), {"rest": samples}))
    seconds = [Second.model_validate(second) for second in per_second(samples, T0 + 0.1, SECONDS)]
    rest = run.styles["rest"].model_copy(update={"per_second": seconds})
    slow = series(run.folder, "rest", rest, 0.0)
    assert slow.p95 == [40.0, 40.0, 900.0, 900.0, *[40.0] * (SECONDS - 4)]
    assert slow.p95 == slow.p99


def test_without_raw_samples_the_chart_draws_p50_and_p99(tmp_path: Path) -> None:
    found = rest_series(tmp_path, with_samples=False)
    assert found.p95 is None and found.p50 == [40.0] * SECONDS
    svg = charts.timeline(found)
    assert "order p50" in svg and "order p99" in svg and "order p95" not in svg


def test_the_latency_axis_turns_logarithmic_when_the_worst_seconds_dwarf_the_rest(
    tmp_path: Path,
) -> None:
    samples = {"broker": scenario_samples("broker")}  # 900 ms orders against 40 ms ones
    run = load_run(write_folder(tmp_path, scenario_document(), samples))
    assert "ms (log scale)" in charts.timeline(series(tmp_path, "broker", run.styles["broker"], 0))
    assert "ms (log scale)" not in charts.timeline(rest_series(tmp_path / "rest"))


def test_an_svg_is_the_same_every_time_and_ids_differ_between_figures(tmp_path: Path) -> None:
    found = rest_series(tmp_path)
    first, again = charts.timeline(found), charts.timeline(found)
    assert first == again
    assert "<dc:date>" not in first
    panels = {"orders/s": {"this run": [1.0, 2.0]}}
    bars = charts.bars("t", ["rest", "grpc"], panels, "bars")
    ids = [re.findall(r'id="([^"]+)"', svg) for svg in (first, bars)]
    assert len(set(ids[0] + ids[1])) == len(ids[0]) + len(ids[1])  # none twice in a page


def test_bars_label_each_value_and_a_missing_one_with_a_dash() -> None:
    panels: dict[str, dict[str, list[float | None]]] = {
        "order p99": {"A": [12.5, None], "B": [10.0, 30.0]}
    }
    svg = charts.bars("A vs B", ["rest", "grpc"], panels, "compare-bars")
    labels = re.findall(r">([^<>]+)</text>", svg)
    assert {"12.5", "-", "10", "30", "A", "B", "rest", "grpc"} <= set(labels)


def test_dollars_in_a_label_are_drawn_as_text(tmp_path: Path) -> None:
    found = rest_series(tmp_path)
    # A formula to matplotlib's math parser, which would raise on it: here it is just text.
    priced = dataclasses.replace(found.faults[0], label=r"$\frac$ x")
    svg = charts.timeline(dataclasses.replace(found, faults=[priced]))
    assert r"fault: $\frac$ x" in svg
