"""Replicas without processes: where each one listens and what it runs with, per gRPC balancing,
the HAProxy configuration (checked by HAProxy itself), the gRPC target setting, and the CLI's
refusal of several replicas on SQLite."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.stack import proxy
from harness.stack.replicas import CLIENT, PROXY_L4, ReplicasNeedPostgres
from harness.stack.supervisor import Stack, StackConfig
from services.kernel.config import ConfigError, Settings
from services.kernel.grpc.client import channel_target

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def replicated(tmp_path: Path, **changes: object) -> Stack:
    config = StackConfig(data_dir=tmp_path, postgres_admin_url=ADMIN, replicas=2)
    return Stack(dataclasses.replace(config, **changes))  # type: ignore[arg-type]


def test_several_replicas_on_sqlite_are_refused_saying_why(tmp_path: Path) -> None:
    with pytest.raises(ReplicasNeedPostgres, match="--store postgres"):
        StackConfig(data_dir=tmp_path, replicas=2)
    with pytest.raises(ValueError, match="grpc_balancing must be one of"):
        StackConfig(data_dir=tmp_path, grpc_balancing="nearest")


def test_the_cli_refuses_them_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["up", "--replicas", "2", "--data-dir", str(tmp_path)]) == 2
    assert "several replicas need the PostgreSQL store" in capsys.readouterr().err


def test_each_replica_has_ports_a_log_and_an_id_of_its_own(tmp_path: Path) -> None:
    stack = replicated(tmp_path)
    assert stack.replicas("order") == ["order-1", "order-2"]
    urls = stack.replica_urls("order")
    assert len(set(urls)) == 2 and stack.url("order") not in urls  # the proxy has that one
    assert stack.log_path("order-2") == tmp_path / "logs" / "order-2.log"
    env = stack.replica_environment("order-2", {})
    assert env["ORDERFLOW_REPLICA_ID"] == "order-2"
    assert urls[1].endswith(f":{env['ORDERFLOW_ORDER_HTTP_PORT']}")
    # The others are reached at their own ports, which are the proxy's.
    assert env["ORDERFLOW_INVENTORY_HTTP_PORT"] == "8001"
    assert env["ORDERFLOW_INVENTORY_GRPC_PORT"] == "50051"
    assert "ORDERFLOW_INVENTORY_GRPC_TARGET" not in env
    with pytest.raises(LookupError, match="several replicas"):
        stack.replica_environment("order", {})


def test_one_replica_runs_as_the_service_always_did(tmp_path: Path) -> None:
    stack = Stack(StackConfig(data_dir=tmp_path))
    assert stack.replicas("order") == ["order"]
    assert stack.replica_urls("order") == [stack.url("order")]
    assert stack.replica_environment("order", {}) == stack.config.environment({})
    assert stack.proxy_stats_url() is None


def test_grpc_through_the_proxys_tcp_frontend(tmp_path: Path) -> None:
    stack = replicated(tmp_path, grpc_balancing=PROXY_L4)
    env = stack.replica_environment("order-1", {})
    l4 = stack.grpc_l4_address("inventory")
    assert l4 is not None and l4.endswith(f":{env['ORDERFLOW_INVENTORY_GRPC_PORT']}")


def test_grpc_balanced_by_the_client_over_every_replica(tmp_path: Path) -> None:
    stack = replicated(tmp_path, grpc_balancing=CLIENT)
    env = stack.replica_environment("order-1", {})
    target = env["ORDERFLOW_INVENTORY_GRPC_TARGET"]
    assert target == "ipv4:" + ",".join(stack.replica_grpc_addresses("inventory"))
    address = Settings.from_env(env).address("inventory")
    assert channel_target(address) == (target, channel_target(address)[1])
    assert ("grpc.lb_policy_name", "round_robin") in channel_target(address)[1]
    # Without a target: one connection to host:port, gRPC's default pick_first.
    plain = Settings.from_env({}).address("inventory")
    assert channel_target(plain)[0] == "127.0.0.1:50051"
    assert ("grpc.lb_policy_name", "round_robin") not in channel_target(plain)[1]


def test_a_grpc_target_that_is_no_target_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="ORDERFLOW_PAYMENT_GRPC_TARGET"):
        Settings.from_env({"ORDERFLOW_PAYMENT_GRPC_TARGET": "ipv4:1.2.3.4:1 ; rm"})
    dns = Settings.from_env({"ORDERFLOW_PAYMENT_GRPC_TARGET": "dns:///payment:50052"})
    assert dns.address("payment").grpc_target == "dns:///payment:50052"


def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    """Balancing on the services' own ports: HTTP and gRPC (HTTP/2) in mode http, gRPC in mode
    tcp on an extra port, each replica checked with GET /health."""
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.fail("HAProxy is missing: `make system-packages` installs Debian's haproxy")
    text = replicated(tmp_path).proxy_configuration()
    assert "bind 127.0.0.1:50051 proto h2" in text and "option httpchk GET /health" in text
    assert (
        text.count("frontend") == 4 + 3 + 3 + 1
    )  # http, grpc and grpc_l4 (not notification), stats
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    checked = subprocess.run(
        [proxy.executable(), "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
