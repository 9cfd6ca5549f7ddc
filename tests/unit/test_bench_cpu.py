"""harness/bench/cpu.py: CPU seconds from /proc/<pid>/stat, per named process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.bench.cpu import CpuSampler, cpu_seconds, resident_bytes, used

# A stat line as the kernel writes it (fields 14 and 15: utime 250, stime 50 ticks), with a
# command name holding a space and a parenthesis, which a naive split would miscount.
STAT = "4242 (python -m (x)) S 1 4242 4242 0 -1 4194560 1203 0 0 0 250 50 0 0 20 0 3 0 9 1 2\n"


def fake_proc(tmp_path: Path, pid: int, stat: str) -> Path:
    (tmp_path / str(pid)).mkdir(parents=True, exist_ok=True)
    (tmp_path / str(pid) / "stat").write_text(stat)
    return tmp_path


def test_user_and_system_ticks_are_added_and_converted_to_seconds(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, 4242, STAT)
    assert cpu_seconds(4242, proc, ticks=100) == pytest.approx(3.0)


def test_a_process_that_is_gone_reads_as_unknown_not_zero(tmp_path: Path) -> None:
    assert cpu_seconds(4243, tmp_path, ticks=100) is None
    sampler = CpuSampler({"order": 4243}, tmp_path, ticks=100)
    assert sampler.sample() == {"order": None}


def test_the_sampler_reads_every_named_process(tmp_path: Path) -> None:
    fake_proc(tmp_path, 1, STAT)
    fake_proc(tmp_path, 2, STAT.replace(" 250 50 ", " 10 5 "))
    sampler = CpuSampler({"order": 1, "payment": 2}, tmp_path, ticks=100)
    assert sampler.sample() == {"order": pytest.approx(3.0), "payment": pytest.approx(0.15)}


def test_used_is_the_difference_and_unknown_where_either_reading_is() -> None:
    before = {"order": 1.0, "payment": None, "inventory": 2.0}
    after = {"order": 1.5, "payment": 3.0, "inventory": None, "notification": 4.0}
    assert used(before, after) == {
        "order": 0.5,
        "payment": None,
        "inventory": None,
        "notification": None,  # no reading at the start: what it used since is not known
    }


def test_a_real_process_burning_cpu_reads_what_it_burned() -> None:
    burn = (
        "import sys, time\n"
        "while time.process_time() < 0.4: pass\n"
        "print('burnt', flush=True)\n"
        "sys.stdin.read()\n"  # then idle until told to end, so its reading is stable
    )
    child = subprocess.Popen(
        [sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        sampler = CpuSampler({"burner": child.pid})
        assert child.stdout is not None and child.stdout.readline() == "burnt\n"
        first = sampler.sample()["burner"]
        time.sleep(0.2)  # idle: it uses (almost) nothing more
        second = sampler.sample()["burner"]
        assert first is not None and second is not None
        # The 0.4 s it burned (less a tick or two: /proc counts whole ticks); start-up adds
        # a little (imports), not seconds.
        assert 0.4 - 2 / sampler.ticks <= first < 1.5
        assert 0 <= second - first < 0.05
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()
    assert CpuSampler({"burner": child.pid}).sample() == {"burner": None}


def test_resident_memory_is_read_from_the_same_line_in_pages(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, 4242, STAT)  # rss, field 24, is the last: 2 pages
    assert resident_bytes(4242, proc, page=4096) == 8192
    assert resident_bytes(4243, proc, page=4096) is None  # gone
