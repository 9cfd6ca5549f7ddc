"""The `orderflow` command as a user runs it: real processes, free ports, data in tmp_path."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from harness.cli.up import GUEST_WARNING, READY_LINE
from harness.stack import postgres
from harness.stack.ports import free_ports
from harness.stack.supervisor import StackConfig
from services.kernel.config import SERVICES, port_variable
from tests.conftest import ADMIN_URL

FULL_STACK = ("inventory", "payment", "notification", "order")


@dataclass
class Cli:
    """One `orderflow` process whose output goes to files, so a test can read it while it runs."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_output(self, text: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.stdout:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no {text!r} in output:\n{self.stdout}\n{self.stderr}")
            time.sleep(0.05)

    def stop(self, signum: signal.Signals) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=30)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Every port a free one, so the tests run beside anything else on this machine; and no
    broker, so these stacks never touch the queues of a stack someone runs on the machine's."""
    ports = iter(free_ports(2 * len(SERVICES)))
    environment = dict(
        os.environ,
        ORDERFLOW_DATA_DIR=str(tmp_path / "data"),
        ORDERFLOW_BROKER_URL="amqp://guest:guest@127.0.0.1:1/%2F",
    )
    for service in SERVICES:
        for kind in ("http", "grpc"):
            environment[port_variable(service, kind)] = str(next(ports))
    return environment


StartCli = Callable[..., Cli]


@pytest.fixture
def start_cli(tmp_path: Path, env: dict[str, str]) -> Iterator[StartCli]:
    started: list[Cli] = []

    def start(*args: str) -> Cli:
        out, err = tmp_path / f"cli-{len(started)}.out", tmp_path / f"cli-{len(started)}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            command = [sys.executable, "-m", "harness.cli", *args]
            process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        started.append(Cli(process, out, err))
        return started[-1]

    yield start
    for cli in started:  # a failed test still stops what it started (SIGTERM: `up` stops its own)
        if cli.process.poll() is None:
            cli.process.terminate()
            cli.process.wait(timeout=30)


def url(env: dict[str, str], service: str, path: str) -> str:
    return f"http://127.0.0.1:{env[port_variable(service, 'http')]}{path}"


def pids_in_table(output: str) -> dict[str, int]:
    rows = (line.split() for line in output.splitlines())
    return {row[0]: int(row[1]) for row in rows if len(row) > 1 and row[0] in SERVICES}


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_console_script_help_and_version() -> None:
    script = Path(sys.executable).parent / "orderflow"
    assert script.exists(), "the console script is missing: pip install -e ."
    for args in (["--help"], ["up", "--help"], ["serve", "--help"]):
        done = subprocess.run([script, *args], capture_output=True, text=True, check=True)
        assert "usage: orderflow" in done.stdout
    version = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("orderflow ")


def test_serve_runs_one_service_until_sigterm(start_cli: StartCli, env: dict[str, str]) -> None:
    cli = start_cli("serve", "inventory")
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url(env, "inventory", "/health"), trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert cli.process.poll() is None, cli.stderr
        assert time.monotonic() < deadline, "inventory did not answer /health"
        time.sleep(0.05)
    assert cli.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_up_runs_until_a_signal_then_stops_everything(
    start_cli: StartCli, env: dict[str, str], signum: signal.Signals
) -> None:
    cli = start_cli("up", "--only", "inventory")
    cli.wait_for_output(READY_LINE)
    assert httpx.get(url(env, "inventory", "/ready"), trust_env=False).status_code == 200
    pids = pids_in_table(cli.stdout)
    assert list(pids) == ["inventory"]
    assert f"{url(env, 'inventory', '/docs')}" in cli.stdout
    assert GUEST_WARNING in cli.stderr  # the broker URL names guest

    assert cli.stop(signum) == 0
    assert not pid_exists(pids["inventory"])
    assert "Traceback" not in cli.stderr


def test_up_starts_the_full_stack(start_cli: StartCli, env: dict[str, str]) -> None:
    cli = start_cli("up", "--reset")
    cli.wait_for_output(READY_LINE)
    pids = pids_in_table(cli.stdout)
    assert tuple(pids) == FULL_STACK
    for service in FULL_STACK:
        assert httpx.get(url(env, service, "/ready"), trust_env=False).status_code == 200

    assert cli.stop(signal.SIGTERM) == 0
    assert not any(pid_exists(pid) for pid in pids.values())


def test_up_reports_a_crashed_service_and_exits_1(start_cli: StartCli) -> None:
    cli = start_cli("up", "--only", "inventory")
    cli.wait_for_output(READY_LINE)
    os.kill(pids_in_table(cli.stdout)["inventory"], signal.SIGKILL)
    assert cli.process.wait(timeout=30) == 1
    assert "inventory was killed by SIGKILL" in cli.stderr


def test_up_on_a_taken_port_says_which_and_exits_2(
    start_cli: StartCli, env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        env[port_variable("payment", "http")] = str(port)
        cli = start_cli("up")
        assert cli.process.wait(timeout=30) == 2
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1, cli.stderr
    assert "payment" in lines[0]
    assert str(port) in lines[0]
    assert "ORDERFLOW_PAYMENT_HTTP_PORT" in lines[0]
    assert not (tmp_path / "data" / "logs").exists()  # no child was started


def test_up_with_an_invalid_variable_exits_2(start_cli: StartCli, env: dict[str, str]) -> None:
    env[port_variable("order", "http")] = "eighty"
    cli = start_cli("up")
    assert cli.process.wait(timeout=30) == 2
    assert "ORDERFLOW_ORDER_HTTP_PORT must be an integer" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_up_store_postgres_gives_the_service_a_database_of_its_own(
    start_cli: StartCli, env: dict[str, str], tmp_path: Path
) -> None:
    name = StackConfig(data_dir=Path(env["ORDERFLOW_DATA_DIR"])).database_name("inventory")
    env["ORDERFLOW_POSTGRES_ADMIN_URL"] = ADMIN_URL
    try:
        cli = start_cli("up", "--store", "postgres", "--only", "inventory")
        cli.wait_for_output(READY_LINE)
        assert f"each service on its own PostgreSQL database: {name}" in cli.stdout
        products = httpx.get(url(env, "inventory", "/products"), trust_env=False)
        assert products.status_code == 200 and products.json()
        with psycopg.connect(postgres.url_of(ADMIN_URL, name)) as database:
            [(count,)] = database.execute("SELECT count(*) FROM products").fetchall()
        assert count == len(products.json())  # the catalog was seeded there, not in a file
        assert not list(Path(env["ORDERFLOW_DATA_DIR"]).glob("*.db"))
        assert cli.stop(signal.SIGTERM) == 0
    finally:
        postgres.drop(ADMIN_URL, name)


def test_up_store_postgres_without_a_server_says_where_and_exits_2(
    start_cli: StartCli, env: dict[str, str]
) -> None:
    env["ORDERFLOW_POSTGRES_ADMIN_URL"] = "postgresql://postgres@127.0.0.1:1/postgres"
    cli = start_cli("up", "--store", "postgres", "--only", "inventory")
    assert cli.process.wait(timeout=30) == 2
    assert "cannot reach PostgreSQL at postgresql://postgres@127.0.0.1:1/postgres" in cli.stderr
    assert "Traceback" not in cli.stderr
