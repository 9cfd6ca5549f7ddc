"""The private broker against real RabbitMQ nodes: started, stopped, killed and restarted.

One node serves the module (a start costs seconds); each test leaves it running. The machine's
own broker (127.0.0.1:5672) must keep answering throughout: nothing here may touch it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest

from harness.cli.broker import READY_LINE
from harness.rabbit import users as rabbit_users
from harness.rabbit.node import (
    BrokerError,
    BrokerPortInUse,
    PrivateBroker,
    available,
    free_low_ports,
)

MACHINE_BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"


def connect(url: str) -> Any:
    return pika.BlockingConnection(pika.URLParameters(f"{url}?connection_attempts=1"))


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def publish_persistent(url: str, queue: str, body: bytes) -> None:
    """A durable queue and a persistent message the broker has confirmed."""
    connection = connect(url)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True)
        properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
        channel.basic_publish("", queue, body, properties, mandatory=True)
    finally:
        connection.close()


def take(url: str, queue: str) -> bytes | None:
    connection = connect(url)
    try:
        _method, _properties, body = connection.channel().basic_get(queue, auto_ack=True)
    finally:
        connection.close()
    return body if body is None else bytes(body)


def node_processes(node: str) -> list[int]:
    """Live processes whose environment names `node`: what a node of ours left running.

    epmd is left out: a node starts it if none runs, and it outlives nodes by design (shared by
    every Erlang node of the machine)."""
    marker = f"RABBITMQ_NODENAME={node}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes() if entry.name.isdigit() else b""
            if marker in environ.split(b"\0") and (entry / "comm").read_text().strip() != "epmd":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_nothing_left(node: str, timeout_s: float = 5.0) -> None:
    """No process of `node` is left. Polled: the node's boot runs a throwaway `epmd-starter`
    Erlang VM in a session of its own, which halts by itself within a second or so."""
    deadline = time.monotonic() + timeout_s
    while (left := node_processes(node)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"processes of {node} left running: {left}"


def assert_machine_broker_answers() -> None:
    connection = connect(MACHINE_BROKER)
    assert connection.is_open
    connection.close()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    with PrivateBroker(tmp_path_factory.mktemp("broker")) as started:
        # Declared now, long before any test kills the node: once (1 run in ~15, under load) a
        # durable queue declared a moment before SIGKILL was missing after the restart. Queues
        # are the services' topology, declared at their start, not just before a crash.
        publish_persistent(started.amqp_url, "test.crash", b"declared early")
        assert take(started.amqp_url, "test.crash") == b"declared early"
        yield started


@pytest.fixture(autouse=True)
def running(request: pytest.FixtureRequest) -> None:
    """Tests of the shared node find it running, whatever the previous one did to it."""
    if "broker" in request.fixturenames:
        request.getfixturevalue("broker").start()


def test_rabbitmq_is_installed() -> None:
    assert available(), "rabbitmq-server is not installed: the private broker cannot run here"


def test_a_started_node_takes_confirmed_persistent_messages(broker: PrivateBroker) -> None:
    assert broker.is_running()
    assert broker.node.startswith("orderflow-") and broker.node.endswith("@localhost")
    assert broker.url == f"amqp://127.0.0.1:{broker.amqp_port}/%2F"
    assert broker.amqp_url == f"amqp://admin:orderflow-admin-dev@127.0.0.1:{broker.amqp_port}/%2F"
    assert broker.amqp_port < 32768
    publish_persistent(broker.amqp_url, "test.confirmed", b"one")
    assert take(broker.amqp_url, "test.confirmed") == b"one"
    assert take(broker.amqp_url, "test.confirmed") is None


def test_the_node_has_the_projects_users_and_no_guest(broker: PrivateBroker) -> None:
    listed = broker.rabbitmqctl("list_users", "--quiet", "--no-table-headers")
    assert {line.split()[0] for line in listed.splitlines()} == set(rabbit_users.IDENTITIES)
    with pytest.raises(pika.exceptions.ProbableAuthenticationError, match="ACCESS_REFUSED"):
        connect(f"amqp://guest:guest@127.0.0.1:{broker.amqp_port}/%2F")


def test_a_namespace_granted_while_running_gets_the_topic_permissions_too(
    broker: PrivateBroker,
) -> None:
    def topic_grants() -> set[tuple[str, str]]:
        listed = broker.rabbitmqctl("list_topic_permissions", "--quiet", "--no-table-headers")
        rows = (line.split("\t") for line in listed.splitlines())
        return {(row[0], row[1]) for row in rows}

    assert ("inventory", "orderflow.events") in topic_grants()
    assert ("inventory", "granted-late.events") not in topic_grants()
    broker.grant("granted-late")
    assert {("inventory", "granted-late.events"), ("client", "granted-late.events")} <= (
        topic_grants()
    )
    assert ("inventory", "orderflow.events") in topic_grants()
    broker.stop()
    broker.start()  # the node loads the widened definitions at every start
    assert ("payment", "granted-late.events") in topic_grants()


def test_start_again_while_running_is_a_no_op(broker: PrivateBroker) -> None:
    pid = broker.pid
    broker.start()
    assert broker.pid == pid


def test_durable_messages_survive_stops_and_the_machine_broker_is_untouched(
    broker: PrivateBroker,
) -> None:
    publish_persistent(broker.amqp_url, "test.outage", b"first")
    pid = broker.pid

    started = time.monotonic()
    broker.stop()
    assert time.monotonic() - started < 10
    assert not broker.is_running()
    assert_nothing_left(broker.node)
    assert refuses_connections(broker.amqp_port)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        connect(broker.amqp_url)
    assert_machine_broker_answers()
    broker.stop()  # idempotent

    broker.start()
    assert broker.pid != pid
    publish_persistent(broker.amqp_url, "test.outage", b"second")
    broker.stop()  # an outage fault stops and starts it again and again
    broker.start()
    assert take(broker.amqp_url, "test.outage") == b"first"
    assert take(broker.amqp_url, "test.outage") == b"second"
    assert_machine_broker_answers()


def test_kill_is_a_crash_that_a_start_recovers_from(broker: PrivateBroker) -> None:
    publish_persistent(broker.amqp_url, "test.crash", b"confirmed before the crash")
    pid = broker.pid
    started = time.monotonic()

    broker.kill()
    assert time.monotonic() - started < 5
    assert not broker.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert_nothing_left(broker.node)
    assert refuses_connections(broker.amqp_port)
    assert_machine_broker_answers()
    broker.kill()  # idempotent

    broker.start()
    assert take(broker.amqp_url, "test.crash") == b"confirmed before the crash"


def test_rabbitmqctl_reaches_our_node_with_its_own_cookie(broker: PrivateBroker) -> None:
    publish_persistent(broker.amqp_url, "test.listed", b"x")
    listed = broker.rabbitmqctl("list_queues", "--quiet", "--no-table-headers", "name", "messages")
    assert "test.listed\t1" in listed.splitlines()


def test_a_second_object_on_a_running_data_dir_refuses_to_start(broker: PrivateBroker) -> None:
    twin = PrivateBroker(broker.data_dir)
    assert twin.node == broker.node  # the node name is kept in the data directory
    with pytest.raises(BrokerError, match=f"already running as pid {broker.pid}"):
        twin.start()
    assert broker.is_running()


def test_two_brokers_side_by_side_are_separate(broker: PrivateBroker, tmp_path: Path) -> None:
    with PrivateBroker(tmp_path) as other:
        assert other.node != broker.node
        assert other.amqp_port != broker.amqp_port
        publish_persistent(other.amqp_url, "test.other-only", b"x")
        connection = connect(broker.amqp_url)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="NOT_FOUND"):
            connection.channel().queue_declare("test.other-only", passive=True)
        connection.close()
    assert not other.is_running()
    assert_nothing_left(other.node)
    assert broker.is_running()


def test_a_taken_port_fails_start_naming_it_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        port = free_low_ports(1)[0]
        taken.bind(("127.0.0.1", port))
        taken.listen()
        blocked = PrivateBroker(tmp_path, amqp_port=port)
        with pytest.raises(
            BrokerPortInUse, match=f"AMQP port {port} on 127.0.0.1 is already in use"
        ):
            blocked.start()
    assert not blocked.is_running()
    assert_nothing_left(blocked.node)


def test_a_node_that_fails_to_boot_reports_why_from_its_log(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    pid = broker.pid
    namesake = PrivateBroker(tmp_path, node=broker.node)
    with pytest.raises(BrokerError, match="stopped during start-up") as caught:
        namesake.start()
    assert "duplicate_node_name" in str(caught.value)  # the log's own words
    assert not namesake.is_running()
    assert broker.pid == pid
    connect(broker.amqp_url).close()


def test_a_node_not_ready_in_time_fails_with_its_log_and_is_killed(tmp_path: Path) -> None:
    slow = PrivateBroker(tmp_path)
    with pytest.raises(
        BrokerError, match=r"was not ready within 0\.5s; last lines of .*broker\.log"
    ):
        slow.start(timeout_s=0.5)
    assert not slow.is_running()
    assert_nothing_left(slow.node)
    assert refuses_connections(slow.amqp_port)


def test_cli_help_describes_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "broker", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for text in ("usage: orderflow broker", "--data-dir DIR", "--port N", "ORDERFLOW_BROKER_URL"):
        assert text in done.stdout


def test_cli_runs_a_node_until_sigterm(tmp_path: Path) -> None:
    port = free_low_ports(1)[0]
    output = tmp_path / "cli.out"
    command = [sys.executable, "-m", "harness.cli", "broker", "--data-dir", str(tmp_path / "b")]
    with output.open("wb") as out:
        cli = subprocess.Popen([*command, "--port", str(port)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while READY_LINE not in output.read_text():
            assert cli.poll() is None and time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
        url = f"amqp://127.0.0.1:{port}/%2F"  # no user: each process connects as its own
        assert f"ORDERFLOW_BROKER_URL={url}\n" in output.read_text()
        publish_persistent(rabbit_users.as_user(url, rabbit_users.ADMIN), "test.cli", b"x")
    finally:
        cli.send_signal(signal.SIGTERM)  # a failed test too: the CLI stops the node it started
        code = cli.wait(timeout=30)
    assert code == 0, output.read_text()
    assert "orderflow broker: SIGTERM, stopping orderflow-" in output.read_text()
    assert refuses_connections(port)
    assert_nothing_left((tmp_path / "b" / "node").read_text().strip())
