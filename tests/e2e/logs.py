"""Reading the running services' logs in the e2e tests of every style."""

from __future__ import annotations

import time

from harness.stack.supervisor import Stack


def assert_every_line_names_the_order(
    stack: Stack, correlation_id: str, order_id: str, services: tuple[str, ...]
) -> None:
    """Each service logged the caller's correlation id (waiting up to 10 s for notification,
    told after the answer), and each line that carries it names the order."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logs = {s: stack.log_path(s).read_text() for s in services}
        if all(f"[{correlation_id}]" in text for text in logs.values()):
            break
        time.sleep(0.05)
    for service, text in logs.items():
        lines = [line for line in text.splitlines() if f"[{correlation_id}]" in line]
        assert lines, f"{service} never logged {correlation_id}"
        assert all(order_id in line for line in lines), lines
