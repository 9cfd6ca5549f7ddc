"""`docker compose up` for real: the Docker engine (started here if none runs), the project's
images built from its Dockerfile, the stack of compose.yaml up and healthy (two replicas of
each service on PostgreSQL behind the proxy, three Locust workers by `--scale`), and from a
container on its network: orders in the five styles, a declined card, the services' /ready and
/metrics, RabbitMQ's management API, Locust's UI and a short distributed run through the
master, every replica taking requests at the proxy, then the benchmark (harness/compose/bench.yaml)
with its results on the host. Published ports are reset by an override (the machine's own
RabbitMQ holds 5672). docs/compose.md says what it needs and how long it takes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.compose import standins
from tests.e2e.compose.engine import docker_engine, run
from tests.e2e.compose.stack import (
    ROOT,
    Compose,
    base_images,
    broker_credentials,
    build_images,
    write_override,
)

pytestmark = [pytest.mark.e2e, pytest.mark.compose, pytest.mark.timeout(1800)]

STYLES = ("rest", "grpc", "graphql", "websocket", "broker")
SHOPPERS = ("RestShopper", "GrpcShopper", "GraphqlShopper", "WebsocketShopper", "BrokerShopper")
OPERATIONS = {"browse_catalog", "place_order", "get_order", "order_completed"}
PORTS = ("http", "grpc")
MIN_FREE_DISK = 10 * 2**30  # below this, the images built are removed after the run
LOCUST_WORKERS = 3  # `--scale locust-worker=3`: the file says 2; --scale must win
CLIENT = "locust-master"  # one-off containers of its service: the project's image, its addresses


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    folder = tmp_path_factory.mktemp("compose")
    with docker_engine(folder / "dockerd.log"):
        compose = Compose(write_override(folder / "no-ports.yaml"))
        config = compose.config("bench")
        for kind, image in base_images(config).items():
            standins.ensure(image, kind)
        built = build_images(config)
        compose("down", "--volumes", "--remove-orphans")  # what an interrupted run left
        try:
            up(compose)
            yield compose
        finally:
            compose("down", "--volumes", "--remove-orphans", check=False)
            if shutil.disk_usage(docker_root()).free < MIN_FREE_DISK:
                run("docker", "image", "rm", *built, check=False)


def up(compose: Compose) -> None:
    scale = f"locust-worker={LOCUST_WORKERS}"
    started = compose(
        "up", "--wait", "--no-build", "--pull", "never", "--scale", scale, timeout=600, check=False
    )
    if started.returncode != 0:
        logs = compose("logs", "--no-color", "--tail", "40", check=False).stdout
        raise AssertionError(f"docker compose up --wait failed:\n{started.stderr}\n{logs}")


def docker_root() -> str:
    return run("docker", "info", "--format", "{{.DockerRootDir}}").stdout.strip()


def in_the_network(
    compose: Compose, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A command in a one-off container of the locust-master service (the project's image, on
    the compose network, with the same ORDERFLOW_* addresses as the services)."""
    flags = [arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")]
    return compose("run", "--rm", "--no-deps", "-T", *flags, CLIENT, *argv, timeout=600)


def replicas(config: dict[str, Any], service: str) -> int:
    if service == "locust-worker":
        return LOCUST_WORKERS
    return int(config["services"][service].get("deploy", {}).get("replicas", 1))


# --- the stack ----------------------------------------------------------------------------


def test_every_replica_is_running_healthy_and_publishes_no_port(stack: Compose) -> None:
    lines = stack("ps", "--format", "json").stdout.splitlines()
    containers = [json.loads(line) for line in lines if line.strip()]
    config = stack.config()
    expected = {name: replicas(config, name) for name in config["services"]}
    assert Counter(c["Service"] for c in containers) == expected
    assert {expected[s] for s in ("order", "inventory", "payment", "notification")} == {2}
    for container in containers:
        healthy = "healthy" if "healthcheck" in config["services"][container["Service"]] else ""
        assert (container["State"], container["Health"]) == ("running", healthy), container
        assert not [p for p in container["Publishers"] or [] if p["PublishedPort"]], container


def test_an_order_is_confirmed_in_each_style_and_a_declined_card_is_cancelled(
    stack: Compose,
) -> None:
    """`orderflow demo --no-start` from inside the network: its exit code says every outcome
    was as expected; the lines below are the ones this test is about."""
    out = in_the_network(stack, "orderflow", "demo", "--no-start", "--no-bench").stdout
    assert "Every outcome was as expected." in out, out
    for style in STYLES:  # the broker command is answered by its terminal event
        assert f"ok  {style}: CONFIRMED at the catalog price" in out, out
    assert "ok  status CANCELLED, reason PAYMENT_DECLINED" in out, out
    assert re.search(r"ok  stock released: HEADSET back to \d+", out), out


# --- from a container on the network -----------------------------------------------------


@pytest.fixture(scope="module")
def probe(stack: Compose) -> dict[str, Any]:
    env = {"PROBE_CREDENTIALS": json.dumps(broker_credentials(stack.config()))}
    env["PROBE_LOCUST_URL"] = "http://locust-master:8089/"
    out = in_the_network(stack, "python", "-m", "tests.e2e.compose.probe", env=env).stdout
    answer: dict[str, Any] = json.loads(out.splitlines()[-1])
    return answer


def test_every_service_is_ready_and_exports_its_metrics(probe: dict[str, Any]) -> None:
    for service, answer in probe["ready"].items():
        assert answer.get("status") == 200, (service, answer)
    for service, answer in probe["metrics"].items():
        assert answer.get("status") == 200, (service, answer)
        assert "# TYPE " in answer["text"], service


def test_rabbitmq_management_api_lists_the_projects_queues(probe: dict[str, Any]) -> None:
    management = probe["management"]
    assert "queues" in management, management
    assert probe["expected_queues"]
    assert set(probe["expected_queues"]) <= set(management["queues"]), management


def test_locusts_web_ui_answers(probe: dict[str, Any]) -> None:
    assert probe["locust_ui"].get("status") == 200, probe["locust_ui"]
    assert "<title>Locust" in probe["locust_ui"]["text"]


def test_a_short_distributed_locust_run_of_the_five_shoppers_has_no_failure(
    stack: Compose,
) -> None:
    """Started through the master's web API as from its UI: the users run on the workers
    (every one of the three takes some), and the master's statistics show requests and no
    failure for every style and operation."""
    out = in_the_network(
        stack, "python", "-m", "tests.e2e.compose.locust_run", "6", "15", *SHOPPERS
    ).stdout
    run = json.loads(out.splitlines()[-1])
    assert run["started"]["success"], run["started"]
    report = run["report"]
    assert report["state"] == "stopped", report
    assert report["worker_count"] == LOCUST_WORKERS, report
    assert run["busy_workers"] == LOCUST_WORKERS, run
    rows = [row for row in report["stats"] if row["name"] != "Aggregated"]
    for style in STYLES:
        assert {row["name"] for row in rows if row["method"] == style} >= OPERATIONS, rows
    assert all(row["num_requests"] > 0 and row["num_failures"] == 0 for row in rows), rows
    assert not report["errors"], report["errors"]


def test_the_proxy_spreads_every_service_over_its_replicas(stack: Compose) -> None:
    """After the orders above, HAProxy's statistics: each backend (a service's HTTP or gRPC
    port) found both replicas by DNS, both are up (in a reading within 20 s: one check missed on
    a busy machine shows `UP 1/2` until the next), and both took requests."""
    out = in_the_network(stack, "python", "-m", "tests.e2e.compose.proxy_stats").stdout
    backends = json.loads(out.splitlines()[-1])
    expected = {f"{s}_{kind}" for s in ("order", "inventory", "payment") for kind in PORTS}
    assert set(backends) == expected | {"notification_http"}, backends
    for backend, servers in backends.items():
        assert len(servers) == 2, (backend, servers)
        assert all(s["status"] == "UP" and s["requests"] > 0 for s in servers), (backend, servers)


# --- what the containers logged, before the benchmark stops them -----------------------


def test_no_container_logged_a_traceback(stack: Compose) -> None:
    logs = stack("logs", "--no-color").stdout
    assert logs.strip()
    assert "Traceback" not in logs, logs[logs.index("Traceback") - 2000 :][:6000]


# --- the benchmark (harness/compose/bench.yaml) -----------------------------------------


def test_the_bench_service_writes_results_and_report_on_the_host_with_a_clean_audit(
    stack: Compose,
) -> None:
    """Last. The baseline scenario at a quarter of its length, two styles (one over the `rabbitmq`
    container): its folder appears under ./results/bench on the host (then removed)."""
    results = ROOT / "results" / "bench"
    before = set(results.glob("*"))
    # It needs `rabbitmq` only, and runs a stack of its own: the other containers would share the
    # two cores of this machine with what it measures (last test: nothing needs them after).
    others = [name for name in stack.config()["services"] if name != "rabbitmq"]
    stack("stop", *others, timeout=300)
    try:
        stack(
            "run", "--rm", "-T", "bench",
            "orderflow", "bench", "scenarios/baseline.yaml", "--time-scale", "0.25",
            "--styles", "rest,broker",
            timeout=600,
        )  # fmt: skip
        new = sorted(set(results.glob("*")) - before)
        assert len(new) == 1 and new[0].name.startswith("baseline-"), new
        assert (new[0] / "report.html").stat().st_size > 0
        document = json.loads((new[0] / "results.json").read_text())
        assert list(document["styles"]) == ["rest", "broker"]
        for style, result in document["styles"].items():
            assert result["audit"]["accepted"] > 0, style
            assert set(result["audit"]["counts"].values()) == {0}, (style, result["audit"])
    finally:
        for folder in set(results.glob("*")) - before:
            shutil.rmtree(folder)
