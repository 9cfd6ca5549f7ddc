"""Service processes as `python -m services.<name>.main` starts them, on free ports in tmp_path:
the slow-start hook (ORDERFLOW_START_DELAY_S) and the fault-control endpoint of order and
notification."""

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
import pytest

from harness.clients.faults import FaultControl
from harness.clients.shapes import order_request
from harness.clients.sse import ACCEPT, EventReader, events_path
from harness.stack.ports import free_ports
from services.kernel import serve
from services.kernel.config import SERVICES, port_variable

TOKEN = "a-test-token-of-some-length"
DELAY_LINE = "delaying start-up"


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    @property
    def http_port(self) -> int:
        return int(self.env[port_variable(self.name, "http")])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def output(self) -> str:
        return self.log.read_text()

    def wait_for_log(self, text: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no {text!r} in the {self.name} log:\n{self.output()}")
            time.sleep(0.02)

    def wait_until_answering(self, path: str, timeout_s: float = 30.0) -> httpx.Response:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return httpx.get(f"{self.url}{path}", timeout=5, trust_env=False)
            except httpx.TransportError:
                assert self.process.poll() is None, self.output()
                assert time.monotonic() < deadline, f"{self.name} did not answer {path}"
                time.sleep(0.02)


StartService = Callable[..., Service]


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[StartService]:
    started: list[Service] = []

    def start(name: str, **extra_env: str) -> Service:
        log = tmp_path / f"{name}-{len(started)}.log"
        with log.open("wb") as output:
            env = service_env(tmp_path, name, extra_env)
            command = [sys.executable, "-m", f"services.{name}.main"]
            process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
        started.append(Service(name, process, log, env))
        return started[-1]

    yield start
    for service in started:  # a failed test still stops what it started
        if service.process.poll() is None:
            service.process.terminate()
            service.process.wait(timeout=30)


def service_env(tmp_path: Path, name: str, extra: dict[str, str]) -> dict[str, str]:
    """Free ports for every service (the others stay down) and this one's control endpoint, and
    no broker: these processes never touch the queues of a stack on the machine's RabbitMQ."""
    ports = iter(free_ports(2 * len(SERVICES) + 1))
    env = dict(
        os.environ,
        ORDERFLOW_DATA_DIR=str(tmp_path / "data"),
        ORDERFLOW_BROKER_URL="amqp://guest:guest@127.0.0.1:1/%2F",
    )
    for service in SERVICES:
        for kind in ("http", "grpc"):
            env[port_variable(service, kind)] = str(next(ports))
    env[port_variable(name, "control")] = str(next(ports))
    return {**env, **extra}


def refuses(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_start_delay_keeps_the_ports_closed_that_long(start_service: StartService) -> None:
    payment = start_service("payment", ORDERFLOW_START_DELAY_S="1.5")
    payment.wait_for_log(DELAY_LINE)
    delaying = time.monotonic()
    assert "ORDERFLOW_START_DELAY_S" in payment.output()
    grpc_port = int(payment.env[port_variable("payment", "grpc")])
    while time.monotonic() - delaying < 1.0:  # well inside the delay
        assert refuses(payment.http_port) and refuses(grpc_port)
        time.sleep(0.05)
    ready = payment.wait_until_answering("/ready")
    assert ready.status_code == 200
    assert time.monotonic() - delaying >= 1.4  # the line is logged just before the wait
    assert payment.output().count(DELAY_LINE) == 1


def test_a_signal_during_the_delay_stops_the_process_before_it_builds_anything(
    start_service: StartService,
) -> None:
    payment = start_service("payment", ORDERFLOW_START_DELAY_S="60")
    payment.wait_for_log(DELAY_LINE)
    payment.process.send_signal(signal.SIGTERM)
    assert payment.process.wait(timeout=10) == 0
    assert not (Path(payment.env["ORDERFLOW_DATA_DIR"]) / "payment.db").exists()


@pytest.mark.parametrize(
    ("name", "operation", "path", "body"),
    [
        (
            "order",
            "order.place",
            "/orders",
            {
                "customer_id": "ada",
                "items": [{"sku": "KB-MECH", "quantity": 1}],
                "payment_token": "tok_visa",
            },
        ),
        (
            "notification",
            "notification.record",
            "/notifications",
            {"order_id": "o-1", "customer_id": "ada", "kind": "order.confirmed"},
        ),
    ],
)
def test_order_and_notification_open_a_control_endpoint_whose_faults_act(
    start_service: StartService, name: str, operation: str, path: str, body: dict[str, object]
) -> None:
    service = start_service(name, ORDERFLOW_CONTROL_TOKEN=TOKEN)
    assert service.wait_until_answering("/health").status_code == 200
    control = FaultControl(int(service.env[port_variable(name, "control")]), TOKEN)
    control.set(operation, error_rate=1.0)
    assert list(control.active()) == [operation]
    refused = httpx.post(f"{service.url}{path}", json=body, timeout=30, trust_env=False)
    assert refused.status_code == 503, refused.text
    control.clear()
    # Order's inventory is not running: the order is placed, and rejected for that.
    answered = httpx.post(f"{service.url}{path}", json=body, timeout=30, trust_env=False)
    assert answered.status_code == 201, answered.text


def test_an_event_stream_ends_whole_as_soon_as_the_service_is_told_to_stop(
    start_service: StartService,
) -> None:
    """An order that cannot move (no broker, no inventory here): its stream would stay open for
    ever. SIGTERM ends it at once as a finished response (the client reconnects elsewhere with
    Last-Event-ID), instead of the server cutting it off when its grace runs out."""
    order = start_service("order")
    order.wait_until_answering("/health")
    with httpx.Client(base_url=order.url, timeout=30, trust_env=False) as http:
        body = order_request({"KB-MECH": 1})
        placed = http.post("/orders", json=body, headers={"Prefer": "respond-async"})
        assert placed.status_code == 202, placed.text
        with http.stream("GET", events_path(placed.headers["location"]), headers=ACCEPT) as answer:
            events = EventReader().read(answer)
            assert next(events).json()["status"] == "PENDING"
            stopping = time.monotonic()
            order.process.send_signal(signal.SIGTERM)
            assert list(events) == []  # no error: the chunked response ended whole
            ended_s = time.monotonic() - stopping
    assert order.process.wait(timeout=30) == 0
    assert ended_s < serve.GRACE_S  # it did not wait for the grace to run out
