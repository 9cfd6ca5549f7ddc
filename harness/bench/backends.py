"""The CPU of the PostgreSQL backends that serve a stack's databases (`orderflow bench --store
postgres`), so CPU-ms per order compares SQLite with PostgreSQL: with SQLite a statement's work
is done in the service's own process, with PostgreSQL most of it in a server process.

PostgreSQL runs one backend process per connection; pg_stat_activity names the database each
serves. A phase reads every such backend's CPU (/proc, harness/bench/cpu.py) at the load's start
and at its end: a backend that exists at both counts the difference, one that appeared meanwhile
its whole life (it was born during the phase), and one that ended meanwhile is lost (the
services' pools keep their connections, so this is rare). The server's shared processes
(checkpointer, WAL writer, background writer) serve every database and are not counted; nor can
a server on another machine be read."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import psycopg

from harness.bench.cpu import PROC, clock_ticks, cpu_seconds

POSTGRESQL: Final = "postgresql"  # its name among the processes of the CPU figures
SHARED: Final = "postgresql-shared"
SHARED_REASON: Final = (
    "the PostgreSQL server's shared processes (checkpointer, WAL writer, background writer)"
    " serve every database on it: not counted (its backends serving the stack are: postgresql)"
)
ELSEWHERE_REASON: Final = "the PostgreSQL server is not on this machine: its CPU cannot be read"
LOCAL_HOSTS: Final = ("", "localhost", "127.0.0.1", "::1")

Backends = dict[int, float]  # backend pid: CPU seconds


def is_local(admin_url: str) -> bool:
    """Whether the server runs here (a loopback host, or a Unix socket: no host)."""
    return (urlsplit(admin_url).hostname or "") in LOCAL_HOSTS


@dataclass(frozen=True)
class BackendSampler:
    """Reads the CPU of the backends connected to `databases` on the server at `admin_url`."""

    admin_url: str
    databases: tuple[str, ...]
    proc: Path = PROC

    def sample(self) -> Backends | None:
        """Each backend's CPU seconds; None when the server cannot be asked (the phase's
        figure is then unknown, not 0)."""
        try:
            with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as admin:
                rows = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s)",
                    (list(self.databases),),
                ).fetchall()
        except psycopg.Error:
            return None
        ticks = clock_ticks()
        found: Backends = {}
        for (pid,) in rows:
            with contextlib.suppress(PermissionError):
                cpu = cpu_seconds(int(pid), self.proc, ticks)
                if cpu is not None:
                    found[int(pid)] = cpu
        return found


def used(before: Mapping[int, float] | None, after: Mapping[int, float] | None) -> float | None:
    """CPU seconds the backends used between two readings (see the module's note)."""
    if before is None or after is None:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
