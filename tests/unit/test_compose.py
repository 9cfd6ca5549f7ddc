"""What the real runs of compose.yaml (tests/e2e/test_compose.py, test_compose_swarm.py) cannot
see, checked without Docker: every command is one the CLI (or Locust) accepts, every ORDERFLOW_*
variable is one the code reads, the published ports are the documented ones (the real runs
publish none), every service is reached through the proxy, which has a front for each of its
ports, each service has a database and a role of its own, the file keeps to what `docker stack
deploy` accepts, and the Dockerfile installs from the lock as the Makefile does."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from harness.cli.main import COMMANDS, build_parser
from harness.cli.up import GRPC_SERVICES
from harness.rabbit import users as rabbit_users
from harness.scenarios.spec import load_scenario
from harness.stack.supervisor import DEPENDENCIES
from services.kernel import tracing
from services.kernel.config import CONTROL_OFFSET, DEFAULT_PORTS, SERVICES, ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
ADDED = ROOT / "harness" / "compose"  # the files given with -f: bench.yaml, tracing.yaml
EXTRA = {
    name: spec
    for file in ("bench.yaml", "tracing.yaml")
    for name, spec in yaml.safe_load((ADDED / file).read_text())["services"].items()
}
CONTAINERS: dict[str, dict[str, Any]] = {**COMPOSE["services"], **EXTRA}
LOCUST = ("locust-master", "locust-worker")
IMAGE_SHARERS = (*SERVICES, *LOCUST)  # one image: the four services and Locust
DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")  # compose's ${VAR:-default}
# The containers that run orderflow and read its settings (not RabbitMQ's or Jaeger's).
WITH_ENVIRONMENT = sorted(
    name
    for name, spec in CONTAINERS.items()
    if "environment" in spec and DEFAULTED.sub("", spec["image"]).startswith("orderflow")
)


def environment(container: str) -> dict[str, str]:
    """The container's environment as compose sets it (a mapping or a list of KEY=VALUE)."""
    given = CONTAINERS[container].get("environment", {})
    pairs = given.items() if isinstance(given, dict) else (i.split("=", 1) for i in given)
    return {str(key): str(value) for key, value in pairs}


def published(container: str) -> dict[int, int]:
    """Container port -> host port, from the long syntax (compose.yaml's: Swarm's `mode: host`)
    or the short one, HOST:CONTAINER."""
    ports: dict[int, int] = {}
    for entry in CONTAINERS[container].get("ports", []):
        if isinstance(entry, dict):
            ports[int(entry["target"])] = int(entry["published"])
            continue
        host, _, inside = str(entry).rpartition(":")  # HOST may be IP:PORT
        ports[int(inside)] = int(host.rpartition(":")[2] or inside)
    return ports


def command(container: str) -> list[str]:
    given = CONTAINERS[container]["command"]
    return shlex.split(given) if isinstance(given, str) else [str(part) for part in given]


def with_defaults(text: str) -> str:
    """Compose's interpolation with every variable unset: ${VAR:-default} becomes default."""
    return DEFAULTED.sub(lambda match: match.group(2), text)


def named_volumes(container: str) -> dict[str, str]:
    """Container path -> volume name, for the named volumes."""
    mounts = {}
    for entry in CONTAINERS[container].get("volumes", []):
        source, target, *_ = str(entry).split(":")
        if not source.startswith((".", "/")):
            mounts[target] = source
    return mounts


def depends_on(container: str) -> dict[str, Any]:
    given = CONTAINERS[container].get("depends_on", {})
    return {name: {} for name in given} if isinstance(given, list) else dict(given)


def dockerfile_stages() -> dict[str, str]:
    """Each stage's text by its name (FROM ... AS name), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        start = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line.strip(), re.IGNORECASE)
        if start:
            name = start.group(1)
            stages[name] = ""
        if name:
            stages[name] += line + "\n"
    return stages


def pip_installs(text: str) -> list[list[str]]:
    """The arguments after `pip install` of each install command in a Makefile or Dockerfile."""
    joined = text.replace("\\\n", " ")
    return [
        shlex.split(line.split("pip install", 1)[1])
        for line in joined.splitlines()
        if "pip install" in line and not line.lstrip().startswith("#")
    ]


# --- commands -----------------------------------------------------------------------------


@pytest.mark.parametrize("container", [*SERVICES, "bench"])
def test_every_orderflow_command_is_one_the_cli_accepts(container: str) -> None:
    argv = [with_defaults(part) for part in command(container)]
    assert argv[0] == "orderflow"
    args = build_parser().parse_args(argv[1:])  # a removed sub-command or option exits here
    assert args.command in COMMANDS


def test_the_locust_master_serves_its_web_ui_with_the_class_picker_on_the_order_service() -> None:
    argv = command("locust-master")
    assert argv[0] == "locust"
    assert (ROOT / argv[argv.index("-f") + 1]).is_file()
    assert {"--class-picker", "--master"} <= set(argv)
    order = Settings.from_env(environment("locust-master")).address("order").http_url
    assert argv[argv.index("--host") + 1] == order
    assert published("locust-master") == {8089: 8089, 5557: 5557}  # the UI, the workers' port
    assert CONTAINERS["locust-master"]["deploy"]["replicas"] == 1


def test_the_locust_workers_run_the_same_users_against_the_master() -> None:
    master, worker = command("locust-master"), command("locust-worker")
    assert worker[: worker.index("-f") + 2] == master[: master.index("-f") + 2]
    assert worker[worker.index("--master-host") + 1] == "locust-master"
    assert "--worker" in worker and not published("locust-worker")  # scalable: no fixed port
    assert environment("locust-worker") == environment("locust-master")
    assert with_defaults(str(CONTAINERS["locust-worker"]["deploy"]["replicas"])) == "2"


# --- environment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "variable"),
    [
        (container, variable)
        for container in WITH_ENVIRONMENT
        for variable in environment(container)
        if variable.startswith("ORDERFLOW_")
    ],
)
def test_every_orderflow_variable_compose_sets_changes_the_settings(
    container: str, variable: str
) -> None:
    """A misspelt or retired variable would be ignored silently: each must make a difference
    (or be one of a pair, such as the broker user and password, that is refused alone)."""
    env = environment(container)
    without = {key: value for key, value in env.items() if key != variable}
    try:
        alone = Settings.from_env(without)
    except ConfigError as error:
        assert variable in str(error)
        return
    assert Settings.from_env(env) != alone, f"{variable} has no effect"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_binds_every_interface_and_keeps_its_store_in_a_database_of_its_own(
    service: str,
) -> None:
    settings = Settings.from_env(environment(service))
    assert settings.host == "0.0.0.0"  # reachable from the proxy
    url = urlsplit(settings.database_url or "")
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
    assert url.path == f"/orderflow_{service}" and url.username == f"orderflow_{service}"
    init = (ADDED / "postgres-init.sql").read_text()
    assert f"CREATE ROLE {url.username} LOGIN PASSWORD '{url.password}';" in init
    assert f"CREATE DATABASE {url.path[1:]} OWNER {url.username};" in init
    assert not named_volumes(service)  # replicas share the database, nothing of their own


def test_postgres_runs_the_init_file_on_its_first_start() -> None:
    postgres = CONTAINERS["postgres"]
    (mount,) = postgres["configs"]
    assert mount["target"].startswith("/docker-entrypoint-initdb.d/")
    assert mount["target"].endswith(".sql")
    assert (ROOT / COMPOSE["configs"][mount["source"]]["file"]) == ADDED / "postgres-init.sql"
    assert named_volumes("postgres") == {"/var/lib/postgresql/data": "postgres-data"}
    assert re.fullmatch(r"postgres:\d+\.\d+-bookworm", postgres["image"])  # pinned


# --- ports --------------------------------------------------------------------------------


def service_ports(service: str) -> dict[int, int]:
    address = Settings.from_env(environment(service)).address(service)
    http, grpc = DEFAULT_PORTS[service]
    expected = {address.http_port: http}
    if service in GRPC_SERVICES:
        expected[address.grpc_port] = grpc
    return expected


def test_the_proxy_publishes_the_services_documented_ports_and_its_statistics() -> None:
    expected = {port: port for service in SERVICES for port in service_ports(service)}
    assert published("proxy") == {**expected, 8404: 8404}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_has_replicas_publishes_nothing_and_is_reached_through_the_proxy(
    service: str,
) -> None:
    spec = CONTAINERS[service]
    assert not published(service)  # two replicas cannot both hold a host's port
    assert with_defaults(str(spec["deploy"]["replicas"])) == "2"
    assert spec["deploy"]["endpoint_mode"] == "dnsrr"  # Swarm: the name lists every replica
    for container in WITH_ENVIRONMENT:
        if container in CONTAINERS and "bench" not in container:
            assert Settings.from_env(environment(container)).address(service).host == "proxy"


def haproxy() -> str:
    return (ADDED / "haproxy.cfg").read_text()


@pytest.mark.parametrize("service", SERVICES)
def test_the_proxy_has_an_l7_front_for_each_port_balancing_over_the_services_replicas(
    service: str,
) -> None:
    config = haproxy()
    assert re.search(r"^defaults\n(    .*\n)*    mode http\n", config, re.MULTILINE)
    for port in service_ports(service):
        h2 = " proto h2" if port == Settings.from_env({}).address(service).grpc_port else ""
        assert re.search(rf"^    bind :{port}{h2}$", config, re.MULTILINE), port
        # The replicas by DNS: the service's own name, at its port.
        template = re.search(rf"^    server-template \w+ \d+ {service}:{port}(.*)$", config, re.M)
        assert template and template.group(1) == h2, port
    assert "resolvers engine" in config and "parse-resolv-conf" in config


def test_rabbitmq_publishes_amqp_and_its_management_ui() -> None:
    assert published("rabbitmq") == {5672: 5672, 15672: 15672}
    assert re.fullmatch(r"rabbitmq:[34]\.\d+\.\d+-management", CONTAINERS["rabbitmq"]["image"])


def test_no_fault_control_port_is_published() -> None:
    """The control endpoint listens on 127.0.0.1 by design: faults run in the bench profile."""
    control = {port + CONTROL_OFFSET for port, _ in DEFAULT_PORTS.values()}
    for container in CONTAINERS:
        assert not control & set(published(container)), container
        assert "ORDERFLOW_CONTROL_TOKEN" not in environment(container)


# --- images, health, start order ----------------------------------------------------------


def test_the_four_services_and_locust_share_one_build_of_the_dockerfile() -> None:
    builds = {json.dumps(CONTAINERS[c].get("build"), sort_keys=True) for c in IMAGE_SHARERS}
    images = {CONTAINERS[c].get("image") for c in IMAGE_SHARERS}
    assert len(builds) == 1
    assert len(images) == 1


# --- what `docker stack deploy` accepts (its loader is not compose's) ----------------------


def test_the_file_keeps_to_what_docker_stack_deploy_accepts() -> None:
    assert "name" not in COMPOSE  # the stack's name is deploy's argument
    assert COMPOSE["version"] == "3.8"  # older CLIs (Debian's 20.10) refuse a file without
    for name, spec in COMPOSE["services"].items():
        assert "profiles" not in spec, name
        assert isinstance(spec.get("depends_on", []), list), name  # no conditions in Swarm
        assert not bind_mounts(name), name  # a node has no checkout: configs instead
        if "build" in spec:
            assert spec["image"], name  # Swarm runs the image compose built, by its name


def test_every_config_is_a_file_of_the_repository() -> None:
    for name, config in COMPOSE["configs"].items():
        assert (ROOT / config["file"]).is_file(), name


def test_every_service_is_found_by_dns_and_publishes_on_its_node() -> None:
    """No virtual IP (IPVS, which some kernels lack; and L4 balancing behind the proxy): each
    name answers with its replicas, and a published port is the node's that runs it."""
    for name, spec in COMPOSE["services"].items():
        assert spec["deploy"]["endpoint_mode"] == "dnsrr", name
        for entry in spec.get("ports", []):
            assert isinstance(entry, dict) and entry["mode"] == "host", (name, entry)


def test_the_stateful_services_stay_on_one_node() -> None:
    for name in ("postgres", "rabbitmq"):
        deploy = CONTAINERS[name]["deploy"]
        assert deploy["replicas"] == 1 and deploy["placement"]["constraints"], name


@pytest.mark.parametrize("container", sorted(CONTAINERS))
def test_dependencies_have_health_checks(container: str) -> None:
    for dependency in depends_on(container):
        assert dependency in CONTAINERS
        if dependency != "locust-master":
            assert "healthcheck" in CONTAINERS[dependency], f"{container} -> {dependency}"


def start_order() -> list[str]:
    """The containers in an order compose may start them (dependencies first)."""
    started: list[str] = []
    pending = list(COMPOSE["services"])
    while pending:
        ready = [c for c in pending if set(depends_on(c)) <= set(started)]
        assert ready, f"a dependency cycle among {pending}"
        started.extend(sorted(ready))
        pending = [c for c in pending if c not in ready]
    return started


def test_the_stores_and_broker_start_first_and_order_last_of_the_four() -> None:
    order = start_order()
    assert set(order[:3]) == {"postgres", "proxy", "rabbitmq"}
    four = [c for c in order if c in SERVICES]
    assert four[-1] == "order"
    for service in SERVICES:
        assert {"postgres", "rabbitmq", "proxy"} <= set(depends_on(service))
        assert set(DEPENDENCIES.get(service, ())) <= set(depends_on(service))
    assert {"proxy", "rabbitmq"} <= set(depends_on("locust-master"))


# --- the Dockerfile -----------------------------------------------------------------------


def test_the_image_is_installed_from_the_lock_exactly_as_the_makefile_does() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = dockerfile_stages()["base"]
    assert re.search(r"^COPY\s+requirements\.lock\s", base, re.MULTILINE)
    assert re.match(r"FROM python:3\.11\.\d+-slim", base)  # a pinned patch release
    makefile = pip_installs((ROOT / "Makefile").read_text())
    assert makefile  # the Makefile still installs with pip
    assert pip_installs(dockerfile) == makefile


def test_the_service_stage_runs_as_a_user_that_owns_the_data_folder() -> None:
    stage = dockerfile_stages()["service"]
    user = re.findall(r"^USER\s+(\S+)", stage, re.MULTILINE)
    assert user
    assert user[-1] not in ("root", "0")
    data = {str(Settings.from_env(environment(s)).data_dir) for s in SERVICES}
    assert all(f"chown {user[-1]} {folder}" in stage for folder in data)


def test_the_bench_stage_has_rabbitmq_for_scenarios_that_stop_the_broker() -> None:
    scenarios = [load_scenario(path) for path in sorted((ROOT / "scenarios").glob("*.yaml"))]
    assert any(scenario.needs_private_broker() for scenario in scenarios)
    assert CONTAINERS["bench"]["build"]["target"] == "bench"
    assert re.search(r"apt-get install .*\brabbitmq-server\b", dockerfile_stages()["bench"])


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".orderflow", "results", "runs"} <= ignored  # the workshop's runs


# --- the benchmark (harness/compose/bench.yaml) -----------------------------------------------


def test_the_bench_service_runs_a_scenario_file_that_exists() -> None:
    bench = CONTAINERS["bench"]
    assert bench["profiles"] == ["bench"]  # only by `run bench`, even with its file given
    argv = command("bench")
    args = build_parser().parse_args([with_defaults(part) for part in argv[1:]])
    assert (ROOT / args.scenario).is_file()
    load_scenario(ROOT / args.scenario)
    pattern = DEFAULTED.sub("*", next(part for part in argv if "scenarios/" in part))
    assert len(list(ROOT.glob(pattern))) > 1  # SCENARIO=<name> picks among them


def bind_mounts(container: str) -> dict[str, str]:
    """Container path -> host path, for the volumes that are host folders (./...)."""
    mounts = {}
    for entry in CONTAINERS[container].get("volumes", []):
        source, target, *_ = str(entry).split(":")
        if source.startswith((".", "/")):
            mounts[target] = source
    return mounts


# --- broker identities -----------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_connects_to_rabbitmq_as_its_own_user(service: str) -> None:
    broker = urlsplit(Settings.from_env(environment(service)).broker_url)
    own = rabbit_users.identity(service)
    assert (broker.username, broker.password) == (own.user, own.password)


@pytest.mark.parametrize("container", LOCUST)
def test_locust_places_orders_as_the_client_user(container: str) -> None:
    broker = urlsplit(Settings.from_env(environment(container)).broker_url)
    client = rabbit_users.identity(rabbit_users.CLIENT)
    assert (broker.username, broker.password) == (client.user, client.password)


def test_rabbitmq_loads_the_projects_definitions_file() -> None:
    mounts = {
        m["target"]: COMPOSE["configs"][m["source"]]["file"]
        for m in CONTAINERS["rabbitmq"]["configs"]
    }
    definitions = mounts["/etc/rabbitmq/definitions.json"]
    assert (ROOT / definitions).resolve() == rabbit_users.DEFINITIONS
    config = (ROOT / mounts["/etc/rabbitmq/conf.d/20-orderflow.conf"]).read_text()
    assert "load_definitions = /etc/rabbitmq/definitions.json" in config.splitlines()


def test_no_container_connects_as_guest() -> None:
    for container in WITH_ENVIRONMENT:
        assert Settings.from_env(environment(container)).broker_user != "guest", container


# --- Jaeger (harness/compose/tracing.yaml; its image cannot be pulled here: checked statically) --

JAEGER_OTLP = "http://jaeger:4318"  # what docs/compose.md tells people to export to


def traced_environment(container: str, **given: str) -> dict[str, str]:
    """The container's environment as compose interpolates it with `given` in the shell."""

    def value(match: re.Match[str]) -> str:
        return given.get(match.group(1), match.group(2))

    return {key: DEFAULTED.sub(value, text) for key, text in environment(container).items()}


def test_the_tracing_file_runs_jaeger_all_in_one_with_otlp_in_and_its_ui() -> None:
    jaeger = CONTAINERS["jaeger"]
    assert "jaeger" not in COMPOSE["services"]  # not started by a plain `docker compose up`
    assert "profiles" not in jaeger  # the file is valid for `docker stack deploy` too
    image, _, tag = jaeger["image"].partition(":")
    assert image == "jaegertracing/all-in-one" and tag and tag != "latest"  # pinned
    assert environment("jaeger")["COLLECTOR_OTLP_ENABLED"] == "true"
    # The UI, and OTLP over HTTP: the exporter the services have (http/protobuf only).
    assert published("jaeger") == {16686: 16686, 4318: 4318}
    assert urlsplit(JAEGER_OTLP).port == 4318 and urlsplit(JAEGER_OTLP).hostname == "jaeger"
    docs = (ROOT / "docs" / "compose.md").read_text()
    command = f"OTEL_EXPORTER_OTLP_ENDPOINT={JAEGER_OTLP} docker compose -f compose.yaml -f"
    assert f"{command} harness/compose/tracing.yaml up" in docs
    assert "http://localhost:16686" in docs


@pytest.mark.parametrize("container", IMAGE_SHARERS)
def test_each_container_exports_traces_only_when_the_endpoint_is_given(container: str) -> None:
    assert tracing._exporters(container, traced_environment(container)) == []  # the default
    given = traced_environment(container, OTEL_EXPORTER_OTLP_ENDPOINT=JAEGER_OTLP)
    assert given["OTEL_EXPORTER_OTLP_ENDPOINT"] == JAEGER_OTLP
    (exporter,) = tracing._exporters(container, given)
    assert type(exporter).__name__ == "OTLPSpanExporter"
    exporter.shutdown()
    # Every order traced by default (a trace UI is for finding yours); the sampler can be set.
    assert given["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
    ratio = traced_environment(container, OTEL_TRACES_SAMPLER_ARG="0.1")
    assert ratio["OTEL_TRACES_SAMPLER_ARG"] == "0.1"


def test_the_tracing_file_holds_jaeger_only_and_nothing_depends_on_it() -> None:
    assert list(yaml.safe_load((ADDED / "tracing.yaml").read_text())["services"]) == ["jaeger"]
    assert not any("jaeger" in depends_on(c) for c in CONTAINERS)  # it may be absent
