"""`orderflow locust-worker`: the Locust worker command it runs, and its arguments."""

from __future__ import annotations

import pytest

from harness.bench.runner import LOCUSTFILE
from harness.cli.locust_worker import command
from harness.cli.main import build_parser


def test_a_worker_runs_orderflows_users_against_the_masters_address() -> None:
    argv = command("10.0.0.5", 6000)
    assert argv[argv.index("-f") + 1] == str(LOCUSTFILE) and "--worker" in argv
    assert argv[argv.index("--master-host") + 1] == "10.0.0.5"
    assert argv[argv.index("--master-port") + 1] == "6000"
    assert "--processes" not in argv
    assert command("h", 5557, processes=3)[-2:] == ["--processes", "3"]


def test_the_master_is_required_and_its_port_defaults_to_locusts() -> None:
    args = build_parser().parse_args(["locust-worker", "--master", "bench.example"])
    assert args.master == ("bench.example", 5557) and args.processes == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["locust-worker"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["locust-worker", "--master", "host:99999"])
