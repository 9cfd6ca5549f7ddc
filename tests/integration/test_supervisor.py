"""The supervisor against a real child: the inventory service, on free ports in tmp_path."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from harness.stack.supervisor import PortInUse, Stack, StackConfig, StartupFailed

INVENTORY = ("inventory",)


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def get(stack: Stack, path: str, timeout: float = 5.0) -> httpx.Response:
    return httpx.get(f"{stack.url('inventory')}{path}", timeout=timeout, trust_env=False)


def available(stack: Stack, sku: str) -> int:
    products = get(stack, "/products").json()
    return next(int(p["available"]) for p in products if p["sku"] == sku)


# The supervisor does not care about the broker: point the services at none, so these stacks never
# declare queues on (or consume from) the machine's RabbitMQ. They keep serving REST meanwhile.
NO_BROKER = {"ORDERFLOW_BROKER_URL": "amqp://guest:guest@127.0.0.1:1/%2F"}


@pytest.fixture
def config(tmp_path: Path) -> StackConfig:
    return StackConfig.on_free_ports(tmp_path, services=INVENTORY, extra_env=NO_BROKER)


@pytest.fixture
def stack(config: StackConfig) -> Iterator[Stack]:
    with Stack(config) as running:
        running.start()
        yield running


def test_a_taken_port_is_reported_before_any_child_starts(config: StackConfig) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        stack = Stack(replace(config, http_ports={**config.http_ports, "inventory": port}))
        with pytest.raises(PortInUse) as caught:
            stack.start()
    message = str(caught.value)
    assert "inventory" in message
    assert str(port) in message
    assert "ORDERFLOW_INVENTORY_HTTP_PORT" in message
    assert not stack.is_running("inventory")
    with pytest.raises(LookupError):
        stack.pid("inventory")
    assert not config.log_path("inventory").exists()


def test_kill_restart_and_stop(stack: Stack) -> None:
    assert get(stack, "/health").status_code == 200
    assert get(stack, "/ready").status_code == 200
    first = stack.pid("inventory")
    with pytest.raises(RuntimeError, match="already started"):
        stack.start()

    stack.kill("inventory")
    assert not stack.is_running("inventory")
    assert not pid_exists(first)
    assert stack.unexpected_exits() == {}

    stack.restart("inventory")
    assert stack.is_running("inventory")
    assert get(stack, "/ready").status_code == 200
    second = stack.pid("inventory")
    assert second != first

    stack.stop()
    assert not stack.is_running("inventory")
    assert not pid_exists(second)
    stack.stop()  # idempotent


def test_a_paused_service_answers_nothing_until_resumed(stack: Stack) -> None:
    stack.pause("inventory")
    with pytest.raises(httpx.TimeoutException):
        get(stack, "/health", timeout=0.5)
    stack.resume("inventory")
    assert get(stack, "/health").status_code == 200

    stack.pause("inventory")  # stop() must end a paused child gracefully, not wait to SIGKILL it
    pid = stack.pid("inventory")
    started = time.monotonic()
    stack.stop()
    assert time.monotonic() - started < 5
    assert not pid_exists(pid)


def test_a_crash_is_reported_as_an_unexpected_exit(stack: Stack) -> None:
    os.kill(stack.pid("inventory"), 9)
    deadline = time.monotonic() + 5
    while not stack.unexpected_exits() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stack.unexpected_exits() == {"inventory": -9}


def test_reset_deletes_the_databases_so_the_catalog_is_seeded_again(config: StackConfig) -> None:
    reservation = {"order_id": "o1", "items": [{"sku": "POSTER-LTD", "quantity": 3}]}
    with Stack(config) as stack:
        stack.start()
        url = f"{stack.url('inventory')}/reservations"
        assert httpx.post(url, json=reservation, trust_env=False).status_code == 201
        assert available(stack, "POSTER-LTD") == 7
        stack.stop()

        stack.start(reset=False)
        assert available(stack, "POSTER-LTD") == 7
        stack.stop()

        stack.start(reset=True)
        assert available(stack, "POSTER-LTD") == 10


def test_a_child_that_exits_fails_start_up_with_its_log_tail(tmp_path: Path) -> None:
    bad = {**NO_BROKER, "ORDERFLOW_MAX_BODY_BYTES": "abc"}
    config = StackConfig.on_free_ports(tmp_path, services=INVENTORY, extra_env=bad)
    with Stack(config) as stack, pytest.raises(StartupFailed) as caught:
        stack.start()
    message = str(caught.value)
    assert caught.value.service == "inventory"
    assert "exited with code 2" in message
    assert "ORDERFLOW_MAX_BODY_BYTES must be an integer" in message
    assert "ORDERFLOW_MAX_BODY_BYTES" in caught.value.log_tail
    assert not stack.is_running("inventory")


def test_a_child_not_ready_in_time_fails_start_up_and_is_stopped(config: StackConfig) -> None:
    with Stack(config) as stack:
        with pytest.raises(StartupFailed, match="inventory was not ready within 0s"):
            stack.start(timeout_s=0.0)
        assert not stack.is_running("inventory")
        assert not pid_exists(stack.pid("inventory"))
