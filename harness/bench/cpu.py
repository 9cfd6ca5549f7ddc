"""CPU time of named processes, read from /proc/<pid>/stat (utime + stime, in clock ticks),
and their resident memory from the same line (rss, in pages).

One sampler for every reader: the bench reads it at the start and the end of a measured phase,
and a telemetry loop may read it once a second. /proc is read directly rather than through
psutil so a test can hand it a fake /proc folder; a process that is gone reads as None (its
CPU can no longer be known), never as 0."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PROC: Final = Path("/proc")
# utime and stime are fields 14 and 15 of /proc/<pid>/stat; counted after the `(comm)` field,
# which may itself hold spaces and parentheses, they are the 12th and 13th.
UTIME_AFTER_COMM: Final = 11
RSS_AFTER_COMM: Final = 21  # rss, field 24: resident pages

Reading = dict[str, float | None]


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def _stat_after_comm(pid: int, proc: Path) -> list[str] | None:
    """The fields of /proc/<pid>/stat after `(comm)`, or None if the process is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, proc: Path = PROC, ticks: int | None = None) -> float | None:
    """User plus system CPU seconds the process has used, or None if it is gone."""
    fields = _stat_after_comm(pid, proc)
    if fields is None:
        return None
    used = int(fields[UTIME_AFTER_COMM]) + int(fields[UTIME_AFTER_COMM + 1])
    return used / (ticks or clock_ticks())


def resident_bytes(pid: int, proc: Path = PROC, page: int | None = None) -> int | None:
    """The process's resident memory (RSS) in bytes, or None if it is gone."""
    fields = _stat_after_comm(pid, proc)
    return None if fields is None else int(fields[RSS_AFTER_COMM]) * (page or page_size())


Pids = Mapping[str, int | Sequence[int]]


@dataclass(frozen=True)
class CpuSampler:
    """Reads the CPU seconds of each named process (a name per service, `locust`, ...); a name
    may stand for several processes (a service's replicas): their sum, None if one is gone."""

    pids: Pids
    proc: Path = PROC
    ticks: int = field(default_factory=clock_ticks)

    def sample(self) -> Reading:
        return {name: self._seconds(pids) for name, pids in self.pids.items()}

    def _seconds(self, pids: int | Sequence[int]) -> float | None:
        each = [cpu_seconds(pid, self.proc, self.ticks) for pid in _listed(pids)]
        return None if None in each else sum(s for s in each if s is not None)


def _listed(pids: int | Sequence[int]) -> Sequence[int]:
    return (pids,) if isinstance(pids, int) else pids


def used(before: Reading, after: Reading) -> Reading:
    """CPU seconds each process used between two readings; None when either is unknown."""
    spent: Reading = {}
    for name, value in after.items():
        start = before.get(name)
        spent[name] = None if start is None or value is None else value - start
    return spent
