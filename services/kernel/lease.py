"""Claims with a lease: how replicas on one database share work without doing one piece twice.

Work that any replica could pick up (an unfinished saga, an outbox row, an owed notification)
is claimed before it is done: its row records who holds it (`claimed_by`, the replica's id) and
until when (`claimed_until`, epoch milliseconds). A claim is taken only where nobody holds one,
or the holder's lease has lapsed, by one conditional UPDATE (with `FOR UPDATE SKIP LOCKED` on
PostgreSQL where a batch is claimed, so replicas take different rows instead of queueing on the
same ones). A replica that dies holding claims leaves them to the others once the lease lapses.

Times are the replicas' own clocks (epoch time): they must agree to well within a lease, which
NTP gives. The same statements run on SQLite, where one process holds every claim.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from services.kernel.database import Database

DEFAULT_LEASE_S: Final = 10.0


@dataclass(frozen=True)
class Lease:
    """Who claims (`holder`), and for how long a claim lasts unless renewed."""

    holder: str
    duration_s: float = DEFAULT_LEASE_S
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def until_ms(self) -> int:
        """When a claim taken or renewed now lapses."""
        return int((self.clock() + self.duration_s) * 1000)

    @property
    def renew_every_s(self) -> float:
        """Renewed at a third of its length: two renewals can fail before it lapses."""
        return self.duration_s / 3


def skip_locked(database: Database) -> str:
    """Appended to the SELECT that picks a batch to claim: on PostgreSQL, rows another replica
    is claiming right now are passed over, not waited for. SQLite has one writer at a time."""
    return f"{database.lock_clause} SKIP LOCKED" if database.lock_clause else ""


def gone_from_this_host(holder: str) -> bool:
    """Whether `holder` is a default replica id (host:pid) of a process of this host that no
    longer runs: its claims are void now, no need to wait for its lease (a restart on the same
    host resumes its predecessor's work at once). A reused pid only means waiting for the lease."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False
