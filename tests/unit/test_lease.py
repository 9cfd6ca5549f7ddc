"""Who is known to be gone: the claims a restart may void at once instead of waiting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from services.kernel.config import default_replica_id
from services.kernel.lease import Lease, gone_from_this_host


def test_a_process_of_this_host_that_ended_is_gone_and_nothing_else_is() -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    host = socket.gethostname()
    assert gone_from_this_host(f"{host}:{ended.stdout.strip()}")
    assert not gone_from_this_host(default_replica_id())  # this very process
    assert not gone_from_this_host(f"{host}:1")  # alive (init), whoever's it is
    assert not gone_from_this_host(f"elsewhere-{host}:{ended.stdout.strip()}")  # not ours to judge
    assert not gone_from_this_host("order-b")  # a chosen id: only its lease tells


def test_a_lease_lapses_its_length_after_it_is_taken_or_renewed() -> None:
    lease = Lease(f"{socket.gethostname()}:{os.getpid()}", 9.0, clock=lambda: 100.0)
    assert (lease.now_ms(), lease.until_ms(), lease.renew_every_s) == (100_000, 109_000, 3.0)
