"""A Docker engine for the compose test: the one already running, else Debian's `dockerd`,
started here and put away afterwards with the host's network as it was found.

dockerd changes the host when it starts: it turns on IP forwarding, sets the FORWARD policy to
DROP, adds its iptables chains and rules, and creates the docker0 bridge. None of that is undone
when it stops, so this module takes a snapshot first and puts it back after.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# What starting and cleaning up an engine needs, by the command that shows it is installed.
PACKAGES = {"dockerd": "docker.io", "iptables-save": "iptables", "nft": "nftables"}
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
DOCKER_LINKS = ("docker0", "br-", "veth")  # the bridges and pairs dockerd and compose create
START_TIMEOUT_S = 90.0


class EngineUnavailable(RuntimeError):
    """No engine runs and none could be installed or started: the test cannot run."""


def run(*argv: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A command whose output is kept for the error message when it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def answers() -> bool:
    """An engine answers on the default socket (or DOCKER_HOST)."""
    if shutil.which("docker") is None:
        return False
    return run("docker", "version", "--format", "{{.Server.Version}}", check=False).returncode == 0


def apt_install(*packages: str) -> None:
    """Debian's packages, as root (the machine's package repositories are reachable)."""
    if os.geteuid() != 0:
        raise EngineUnavailable(f"installing {packages} needs root (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise EngineUnavailable(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")


@dataclass(frozen=True)
class HostNetwork:
    """What dockerd changes on the host: kernel settings, iptables (nf_tables), links."""

    sysctls: dict[str, str]
    rules: dict[str, str]  # table -> its `iptables-save` section, for the tables that exist
    nft_tables: frozenset[str]
    links: frozenset[str]

    @classmethod
    def capture(cls) -> HostNetwork:
        return cls(
            {
                name: path.read_text().strip()
                for name in SYSCTLS
                if (path := _sysctl(name)).exists()
            },
            _saved_tables(),
            frozenset(_nft_tables()),
            frozenset(_links()),
        )

    def restore(self) -> None:
        for name, value in self.sysctls.items():
            _sysctl(name).write_text(value)
        for table in _saved_tables():
            if table in self.rules:
                subprocess.run(["iptables-restore"], input=self.rules[table], text=True, check=True)
            else:
                _remove_table(table, f"ip {table}" not in self.nft_tables)
        for link in _links() - self.links:
            if link.startswith(DOCKER_LINKS):
                run("ip", "link", "delete", link, check=False)


def _links() -> set[str]:
    return {path.name for path in Path("/sys/class/net").iterdir()}


def _sysctl(name: str) -> Path:
    return Path("/proc/sys", *name.split("."))


def _saved_tables() -> dict[str, str]:
    return split_tables(run("iptables-save").stdout)  # `-t TABLE` would create the table


def split_tables(saved: str) -> dict[str, str]:
    """Each table's section of `iptables-save` output (from `*table` to its COMMIT)."""
    sections = re.split(r"^(?=\*)", saved, flags=re.MULTILINE)
    return {text.split()[0][1:]: text for text in sections if text.startswith("*")}


def _nft_tables() -> list[str]:
    done = run("nft", "list", "tables", check=False)
    return [line.removeprefix("table ").strip() for line in done.stdout.splitlines()]


def _remove_table(table: str, created: bool) -> None:
    """A table dockerd created goes; one that was there before (empty) is emptied again."""
    if created and run("nft", "delete", "table", "ip", table, check=False).returncode == 0:
        return
    run("iptables", "-t", table, "-F")
    run("iptables", "-t", table, "-X")
    if table == "filter":
        run("iptables", "-P", "FORWARD", "ACCEPT")


@contextmanager
def docker_engine(log: Path) -> Iterator[str]:
    """The engine for the test; yields how it was found ("running" or "started")."""
    if answers():
        yield "running"  # someone else's engine: used as it is, left running
        return
    missing = [package for command, package in PACKAGES.items() if not shutil.which(command)]
    if missing:
        apt_install(*missing)
    before = HostNetwork.capture()
    with log.open("ab") as output:
        daemon = subprocess.Popen(["dockerd"], stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_it_answers(daemon, log)
        yield "started"
    finally:
        _stop(daemon)
        before.restore()


def _wait_until_it_answers(daemon: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers():
        if daemon.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise EngineUnavailable(f"dockerd did not start (exit {daemon.poll()}):\n{tail}")
        time.sleep(0.5)


def _stop(daemon: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as dockerd expects: it stops its containers and its containerd, then exits."""
    daemon.terminate()
    try:
        daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
