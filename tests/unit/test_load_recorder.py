"""The raw samples of one Locust process, as written for `orderflow bench` to merge."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from harness.load.recorder import (
    PROGRESS_MESSAGE,
    PROGRESS_PREFIX,
    SAMPLES_MESSAGE,
    STARTED_MESSAGE,
    STARTED_PREFIX,
    Recorder,
    write_document,
)


def made(folder: Path, style: str = "rest", phase: str = "load") -> tuple[Recorder, float, float]:
    """A recorder, and the clock just before and just after it started."""
    before = time.time()
    recorder = Recorder(folder, style, phase)
    return recorder, before, time.time()


def read(path: Path | None) -> dict[str, Any]:
    assert path is not None
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def test_the_samples_are_written_with_their_offset_name_latency_and_error(tmp_path: Path) -> None:
    folder = tmp_path / "bench" / "grpc"  # not there yet
    recorder, before, after = made(folder, style="grpc", phase="calibration")
    recorder.on_request(name="browse_catalog", response_time=12.5, start_time=after + 1.25)
    recorder.on_request(
        name="place_order",
        response_time=250.125,
        exception=TimeoutError("deadline exceeded"),
        start_time=after + 2.5,
        request_type="grpc",  # Locust's other keywords are accepted and ignored
        response_length=0,
        context={},
    )

    path = recorder.write()

    assert path == folder / f"samples-calibration-{os.getpid()}.json"
    document = read(path)
    assert set(document) == {"format", "style", "phase", "started_at", "samples", "accepted"}
    assert document["format"] == 1
    assert (document["style"], document["phase"]) == ("grpc", "calibration")
    started_at = document["started_at"]
    assert before <= started_at <= after
    assert document["samples"] == [
        [pytest.approx(after + 1.25 - started_at, abs=1e-3), "browse_catalog", 12.5, None],
        [
            pytest.approx(after + 2.5 - started_at, abs=1e-3),
            "place_order",
            250.125,
            "deadline exceeded",
        ],
    ]


def test_a_sample_without_a_start_time_is_placed_at_the_time_it_was_recorded(
    tmp_path: Path,
) -> None:
    recorder, _, _ = made(tmp_path)
    recorder.on_request(name="get_order", response_time=3.0)
    latest = time.time()
    document = read(recorder.write())
    [[offset, name, latency, error]] = document["samples"]
    assert 0.0 <= offset <= latest - document["started_at"] + 1e-3
    assert (name, latency, error) == ("get_order", 3.0, None)


def test_a_long_error_message_is_cut_to_200_characters(tmp_path: Path) -> None:
    recorder, _, after = made(tmp_path)
    long = "".join(chr(ord("a") + n % 26) for n in range(500))
    exact = "x" * 200
    recorder.on_request(name="a", response_time=1.0, exception=RuntimeError(long), start_time=after)
    recorder.on_request(
        name="b", response_time=1.0, exception=RuntimeError(exact), start_time=after
    )
    cut, whole = (row[3] for row in read(recorder.write())["samples"])
    assert len(cut) == 200
    assert cut.startswith(long[:190])
    assert whole == exact


def test_an_error_without_a_message_is_written_as_its_type(tmp_path: Path) -> None:
    recorder, _, after = made(tmp_path)
    recorder.on_request(
        name="a", response_time=1.0, exception=ConnectionResetError(), start_time=after
    )
    assert read(recorder.write())["samples"][0][3] == "ConnectionResetError"


def test_write_writes_once(tmp_path: Path) -> None:
    recorder, _, after = made(tmp_path)
    recorder.on_request(name="a", response_time=1.0, start_time=after)
    path = recorder.write()
    assert path is not None
    written = path.read_text()

    recorder.on_request(name="b", response_time=2.0, start_time=after)
    assert recorder.write() is None
    assert path.read_text() == written
    assert list(tmp_path.iterdir()) == [path]


def test_no_samples_still_writes_a_document(tmp_path: Path) -> None:
    recorder, _, _ = made(tmp_path, phase="load")
    assert read(recorder.write())["samples"] == []


def progress_fields(line: str) -> dict[str, str]:
    """The key=value fields after the prefix."""
    pairs = (part.partition("=") for part in line.split()[1:])
    return {key: value for key, _, value in pairs}


def test_progress_prints_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder, before, after = made(tmp_path)
    for n in range(3):
        recorder.on_request(name="a", response_time=1.0, start_time=after + n)
    recorder.progress()
    latest = time.time()

    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(PROGRESS_PREFIX + " ")
    fields = progress_fields(line)
    assert set(fields) == {"pid", "elapsed", "rps", "samples"}
    assert fields["pid"] == str(os.getpid())
    assert fields["samples"] == "3"
    assert 0.0 <= float(fields["elapsed"]) <= latest - before + 0.1
    assert float(fields["rps"]) > 0.0


def test_progress_reports_the_rate_since_the_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder, _, after = made(tmp_path)
    recorder.on_request(name="a", response_time=1.0, start_time=after)
    recorder.progress()
    recorder.progress()  # nothing new since the line before

    [_, second] = capsys.readouterr().err.splitlines()
    fields = progress_fields(second)
    assert float(fields["rps"]) == 0.0
    assert fields["samples"] == "1"


def test_the_keys_of_accepted_orders_are_kept_for_the_audit(tmp_path: Path) -> None:
    recorder, _, after = made(tmp_path, style="broker", phase="load")
    accepted = {"idempotency_key": "load-1"}
    recorder.on_request(name="place_order", response_time=3.0, start_time=after, context={})
    recorder.on_request(
        name="order_completed", response_time=9.0, start_time=after, context=accepted
    )
    timed_out = {"idempotency_key": "load-2"}  # accepted, then never completed: still accepted
    recorder.on_request(
        name="order_completed",
        response_time=30_000.0,
        exception=TimeoutError("no terminal event"),
        start_time=after,
        context=timed_out,
    )
    assert read(recorder.write())["accepted"] == ["load-1", "load-2"]


def test_the_start_is_announced_with_the_epoch_the_offsets_count_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder, _, _ = made(tmp_path, style="rest", phase="load")
    recorder.announce()
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"{STARTED_PREFIX} pid={os.getpid()} at=")
    announced = float(line.rsplit("=", 1)[1])
    assert announced == pytest.approx(read(recorder.write())["started_at"], abs=1e-5)


def test_a_remote_worker_sends_what_it_records_to_its_master_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker on another machine cannot write into the bench's folder: it relays."""
    sent: list[tuple[str, dict[str, Any]]] = []
    folder = tmp_path / "masters-folder"
    recorder = Recorder(folder, "rest", "load", relay=lambda kind, data: sent.append((kind, data)))
    recorder.announce()
    recorder.on_request(name="place_order", response_time=5.0, context={"idempotency_key": "k1"})
    recorder.progress()
    assert recorder.write() is None
    assert recorder.write() is None  # once
    assert [kind for kind, _ in sent] == [STARTED_MESSAGE, PROGRESS_MESSAGE, SAMPLES_MESSAGE]
    started, progress, samples = (data for _, data in sent)
    assert started["at"] == samples["started_at"]
    assert progress["samples"] == 1
    assert samples == recorder.document()
    assert samples["accepted"] == ["k1"] and samples["phase"] == "load"
    assert not folder.exists()
    assert capsys.readouterr().err == ""  # the master prints the lines, not the worker


def test_the_master_writes_a_workers_samples_as_a_local_process_would(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, "rest", "calibration", relay=lambda kind, data: None)
    recorder.on_request(name="noop", response_time=1.0)
    path = write_document(tmp_path / "samples", "host_abc123", recorder.document())
    assert path.name == "samples-calibration-host_abc123.json"
    assert read(path) == recorder.document()
