"""compose.yaml on a cluster engine, for real: Docker Swarm on a single node made here
(`docker swarm init` on the loopback address), the file deployed with `docker stack deploy`
(its images built first, as Swarm cannot build), every service's replicas up and healthy, an
order placed in each of the five styles from inside the stack (through the proxy, over the
overlay network), each backend of the proxy finding the replicas; then `docker stack rm` and
`docker swarm leave --force`, the networks and volumes Swarm made removed. The engine is the
compose test's (started here if none runs, the host's network put back after).
docs/compose.md, "Docker Swarm", says what it needs and how long it takes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.e2e.compose import standins
from tests.e2e.compose.engine import docker_engine
from tests.e2e.compose.stack import COMPOSE_FILE, Compose, base_images, build_images, write_override
from tests.e2e.compose.swarm import Stack, single_node_swarm, write_stack_file

pytestmark = [pytest.mark.e2e, pytest.mark.compose, pytest.mark.timeout(1800)]

STYLES = ("rest", "grpc", "graphql", "websocket", "broker")
SERVICES = ("order", "inventory", "payment", "notification")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("swarm")
    with docker_engine(folder / "dockerd.log"):
        # The images, as compose builds them (`docker compose build`): Swarm needs them by name.
        config = Compose(write_override(folder / "no-ports.yaml"), files=(COMPOSE_FILE,)).config()
        for kind, image in base_images(config).items():
            standins.ensure(image, kind)
        build_images(config)
        expected = {
            name: int(spec.get("deploy", {}).get("replicas", 1))
            for name, spec in config["services"].items()
        }
        with single_node_swarm():
            stack = Stack()
            try:
                stack.deploy(write_stack_file(folder / "stack.yaml"))
                stack.wait_until_ready(expected)
                yield stack
            finally:
                stack.remove()


def test_every_service_runs_its_replicas(stack: Stack) -> None:
    replicas = {s["Name"].removeprefix(f"{stack.name}_"): s["Replicas"] for s in stack.services()}
    for service in SERVICES:
        assert replicas[service] == "2/2", replicas
    assert replicas["locust-worker"] == "2/2", replicas
    for service in SERVICES:
        assert len(stack.containers(service)) == 2, service


def test_an_order_is_confirmed_in_each_style_through_the_proxy(stack: Stack) -> None:
    """`orderflow demo --no-start` in the locust-master container (the users' addresses: every
    service at `proxy`): its exit code says every outcome was as expected."""
    out = stack.exec("locust-master", "orderflow", "demo", "--no-start", "--no-bench")
    assert "Every outcome was as expected." in out, out
    for style in STYLES:
        assert f"ok  {style}: CONFIRMED at the catalog price" in out, out
    assert "ok  status CANCELLED, reason PAYMENT_DECLINED" in out, out
    assert re.search(r"ok  stock released: HEADSET back to \d+", out), out


def test_the_proxy_finds_both_replicas_of_every_service(stack: Stack) -> None:
    """Swarm's DNS answers `order` with every task (endpoint_mode dnsrr), and the proxy's
    backends hold them: both up (in a reading within 20 s: one check missed on a busy machine
    shows `UP 1/2` until the next), and after the orders above, both of order's took requests."""
    out = stack.exec("locust-master", "python", "-m", "tests.e2e.compose.proxy_stats")
    backends = json.loads(out.splitlines()[-1])
    for backend, servers in backends.items():
        assert [s["status"] for s in servers] == ["UP", "UP"], (backend, servers)
    assert all(s["requests"] > 0 for s in backends["order_http"]), backends["order_http"]


def test_the_locust_workers_are_connected_to_the_master(stack: Stack) -> None:
    out = stack.exec(
        "locust-master", "python", "-c",
        "import httpx; print(httpx.get('http://127.0.0.1:8089/stats/requests').text)",
    )  # fmt: skip
    assert json.loads(out)["worker_count"] == 2, out


def test_no_service_logged_a_traceback(stack: Stack) -> None:
    for service in (*SERVICES, "proxy", "locust-master", "locust-worker"):
        logs = stack.logs(service)
        assert "Traceback" not in logs, (service, logs[logs.find("Traceback") - 2000 :][:6000])
