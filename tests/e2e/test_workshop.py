"""Every command the workshop guide gives (docs/workshop/*.md, the `shell` blocks) runs as written.

Commands run in the guide's order, one test per page, from a folder of their own that holds the
repository's `.venv`, `scenarios` and `harness` (so the guide's relative paths work) on a stack of
free ports and a broker namespace of the test's own. Scenario runs get `--time-scale 0.2`, the
option the guide offers a room short of time, and the other benchmarks' `--duration` and
`--calibration` shrink by the same factor (at least 2 s), so that the whole guide fits in a test:
the test checks that each command runs and writes its report, which needs no 20-second phase.
What the guide tells the room to open (`<out>/report.html`) is checked to be there.

Two kinds of command are not run here, and the tests say where they are checked instead:
`make demo` (tests/e2e/test_demo.py runs `orderflow demo`, all the Makefile's target runs once
installed) and `docker compose ...` (no Docker engine here: checked against compose.yaml).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pika.exceptions
import pytest
import yaml

from harness.bench.options import duration
from harness.rabbit.admin import delete_topology
from harness.stack.ports import free_ports
from harness.stack.supervisor import StackConfig
from services.kernel.broker.topology import Topology
from tests.e2e.conftest import MACHINE_BROKER

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WORKSHOP = ROOT / "docs" / "workshop"
PAGES = sorted(WORKSHOP.glob("*.md"))
SHELL_BLOCK = re.compile(r"^```shell\n(.*?)^```", re.MULTILINE | re.DOTALL)
TIME_SCALE = 0.2
SHORTENED = ("--duration", "--calibration")  # a plain benchmark's times, scaled as a scenario's
SHORTEST_S = 2  # a plain benchmark's phases: Locust's users need a moment to start
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
LONG_RUNNING = ("orderflow up", "--class-picker")  # they run until Ctrl-C


def commands(page: Path) -> list[str]:
    blocks = SHELL_BLOCK.findall(page.read_text(encoding="utf-8"))
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


class Room:
    """The folder and environment the guide's commands run in."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        for shared in (".venv", "scenarios", "harness"):
            (folder / shared).symlink_to(ROOT / shared)
        self.namespace = f"workshop-{uuid.uuid4().hex[:12]}"
        self.broker = {
            "ORDERFLOW_BROKER_URL": MACHINE_BROKER,
            "ORDERFLOW_BROKER_NAMESPACE": self.namespace,
        }
        self.take_ports()

    def take_ports(self) -> None:
        """Free ports for `orderflow up` and Locust's UI, taken just before they start (ports
        found free minutes earlier, before the benchmarks between, may not be any more)."""
        self.config = StackConfig.on_free_ports(self.folder / ".orderflow", extra_env=self.broker)
        [locust_port] = free_ports(1, "127.0.0.1", exclude=self.config.http_ports.values())
        self.locust_url = f"http://127.0.0.1:{locust_port}"
        # Locust reads any option from LOCUST_<OPTION>: the guide's command stays as written.
        self.env = {**self.config.environment(os.environ), "LOCUST_WEB_PORT": str(locust_port)}

    def order_url(self) -> str:
        return f"http://127.0.0.1:{self.config.http_port('order')}"


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    here = Room(tmp_path_factory.mktemp("workshop"))
    yield here
    with contextlib.suppress(pika.exceptions.AMQPConnectionError):
        delete_topology(MACHINE_BROKER, Topology(here.namespace))


def test_every_page_of_the_plan_exists_and_has_commands() -> None:
    plan = (WORKSHOP / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((\d\d-[a-z-]+\.md)\)", plan))
    assert linked == {page.name for page in PAGES if page.name != "README.md"}
    assert all(commands(page) for page in PAGES)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.stem)
def test_the_commands_of_the_page_run(page: Path, room: Room) -> None:
    with contextlib.ExitStack() as running:
        serving = False
        for command in commands(page):
            if any(marker in command for marker in LONG_RUNNING):
                if not serving:  # the first of those the page starts: fresh ports for them
                    room.take_ports()
                    serving = True
                running.enter_context(_until_ctrl_c(command, room))
            else:
                _run(command, room)


def _run(command: str, room: Room) -> None:
    argv = shlex.split(command)
    assigned = {}
    while argv and ASSIGNMENT.match(argv[0]):  # VAR=value before a command: its environment
        name, value = argv.pop(0).split("=", 1)
        assigned[name] = value
    if "SCENARIO" in assigned:  # compose's bench runs scenarios/${SCENARIO}.yaml
        assert (ROOT / "scenarios" / f"{assigned['SCENARIO']}.yaml").is_file(), command
    if argv[:2] == ["make", "demo"]:
        _checked_by_test_demo()
    elif argv[:2] == ["docker", "compose"]:
        _checked_against_compose(argv[2:])
    else:
        _run_orderflow(command, argv, {**room.env, **assigned}, room.folder)


def _run_orderflow(command: str, argv: list[str], env: dict[str, str], folder: Path) -> None:
    assert argv[0] == ".venv/bin/orderflow", f"no test knows how to run: {command}"
    if argv[1] == "bench":
        argv = _shortened(argv)
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    if "--out" in argv:
        out = folder / argv[argv.index("--out") + 1]
        assert (out / "results.json").is_file() and (out / "report.html").is_file(), command


def _shortened(argv: list[str]) -> list[str]:
    """`orderflow bench` in a fifth of the time: a scenario with `--time-scale`, a plain run with
    its `--duration` and `--calibration` scaled alike (whole seconds, at least SHORTEST_S)."""
    if len(argv) > 2 and argv[2].startswith("scenarios/"):
        return [*argv, "--time-scale", f"{TIME_SCALE:g}"]
    shorter = list(argv)
    for at, flag in enumerate(argv[:-1]):
        if flag in SHORTENED:
            seconds = max(SHORTEST_S, round(duration(argv[at + 1]) * TIME_SCALE))
            shorter[at + 1] = f"{seconds}s"
    return shorter


@contextlib.contextmanager
def _until_ctrl_c(command: str, room: Room) -> Iterator[None]:
    """Started, seen to serve, then stopped with Ctrl-C (SIGINT), as the guide says."""
    log = (room.folder / f"{uuid.uuid4().hex[:8]}.log").open("wb")
    process = subprocess.Popen(
        shlex.split(command),
        cwd=room.folder,
        env=room.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_as_in_a_terminal,
    )
    try:
        if "--class-picker" in command:
            _serving(f"{room.locust_url}/", process, expect="RestShopper")
        else:
            _serving(f"{room.order_url()}/ready", process, expect="")
        yield
    finally:
        code = _ctrl_c(process, locust_ui="--class-picker" in command)
        log.close()
    assert code == 0, f"{command} exited {code} on Ctrl-C"


def _ctrl_c(process: subprocess.Popen[bytes], *, locust_ui: bool) -> int:
    """Ctrl-C, as a person in the room presses it: not while Locust's web UI is answering the
    page it just served (a SIGINT landing in the greenlet of a request is swallowed by gevent's
    WSGI handler and Locust runs on: seen once in four tries straight after a request, never
    after a second's pause), and for Locust once more if it did not stop. `orderflow up` must
    stop at the first."""
    if locust_ui:
        time.sleep(1)
    for _ in range(2 if locust_ui else 1):
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return process.wait(timeout=30 if locust_ui else 60)
    process.kill()  # not left running after the test, whatever it says
    return process.wait()


def _as_in_a_terminal() -> None:
    """Ctrl-C works in the room's terminal: SIGINT is not ignored there. A test run started in
    the background inherits an ignored SIGINT, and a Python program that starts with SIGINT
    ignored (Locust) never turns it into KeyboardInterrupt; so undo that for the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _serving(url: str, process: subprocess.Popen[bytes], *, expect: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited before serving {url}"
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200 and expect in answer.text:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing served {url}")


def _checked_by_test_demo() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^demo: .*\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe and recipe.group(1) == "$(BIN)/orderflow demo", (
        "make demo runs more than the demo"
    )
    assert "def test_demo" in (ROOT / "tests" / "e2e" / "test_demo.py").read_text(encoding="utf-8")


def _checked_against_compose(argv: list[str]) -> None:
    """`docker compose [-f FILE ...] [--profile P] up|run [options] [SERVICE]`: each FILE
    (compose.yaml when none is given), P and SERVICE exist."""
    files = [argv[i + 1] for i, word in enumerate(argv) if word == "-f"] or ["compose.yaml"]
    services: dict[str, dict[str, object]] = {}
    for file in files:
        services.update(yaml.safe_load((ROOT / file).read_text(encoding="utf-8"))["services"])
    profiles = {str(p) for service in services.values() for p in _listed(service, "profiles")}
    words = iter(argv)
    for word in words:
        if word == "-f":
            next(words)
        elif word == "--profile":
            assert next(words) in profiles, f"no compose profile in: docker compose {argv}"
        elif not word.startswith("-"):
            assert word in ("up", "run", "down", "logs", "ps"), f"docker compose {argv}"
            named = [rest for rest in words if not rest.startswith("-")]
            # `run SERVICE [COMMAND ...]` names one service; `up` and the others, any number.
            assert all(name in services for name in named[: 1 if word == "run" else None]), (
                f"no such service: {named}"
            )


def _listed(mapping: Mapping[str, object], key: str) -> list[object]:
    value = mapping.get(key, [])
    return list(value) if isinstance(value, list) else []
