"""results.json as one typed model: what the bench writes and the report reads.

docs/results.schema.json is generated from these classes (scripts/export_results_schema.py), so
the published schema, the writer's check and the reader's check are one definition. The models
are strict (no "900" taken for 900) and forbid unknown fields, as the schema always did; a field
added later is optional, so results written before it existed stay valid. The scenario and audit
sections are in results_scenario_model.py.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.json_schema import GenerateJsonSchema

from harness.bench.results_base import Absent, Count, Fraction, Ms, PerSecond, Section, StyleName
from harness.bench.results_scenario_model import Audit, AuditError, Scenario, StyleScenario
from harness.bench.results_telemetry_model import Telemetry

SCHEMA = "orderflow.bench/v1"
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
OperationName = Annotated[
    str,
    Field(
        min_length=1,
        description="An operation of the task mix (browse_catalog, place_order, get_order), or"
        " order_completed: the moment an order's terminal status reached the client, one per"
        " order.",
    ),
]


class Machine(Section):
    """The machine the load generator ran on."""

    cpus: Annotated[int, Field(ge=1)]
    """Logical CPUs."""
    python: str
    """Python version of the load generator."""
    platform: str
    """Operating system and architecture."""


class Run(Section):
    """How the run was made, so that it can be repeated and compared."""

    id: Annotated[str, Field(min_length=1)]
    """The run's identifier, also its folder's name."""
    # A string as written (a datetime would be rewritten with a Z instead of +00:00).
    started_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    """When the run started, ISO-8601 with offset."""
    command: str
    """The command line that made the run."""
    model: Literal["closed", "open"]
    """closed: a fixed number of users, each waiting for its answer before the next request;
    open: requests started at a fixed rate whatever the answers."""
    users: Annotated[int, Field(ge=1)]
    """Simulated users (in the open model, the pool that issues the requests)."""
    rate: Positive | None
    """Requests started per second in the open model; null in the closed model."""
    duration_s: Positive
    """Planned seconds of the load phase of each style."""
    calibration_s: Positive | None
    """Planned seconds of each style's no-op calibration, or null when it was skipped."""
    processes: Annotated[int, Field(ge=1)]
    """Locust processes that generated the load."""
    target: str
    """Where the stack under load ran (a host or a description of it)."""
    machine: Machine
    profile: Literal["naive", "resilient"]
    """The resilience profile of the order service's calls (ORDERFLOW_PROFILE): naive or
    resilient. With --target, the profile this command was told the running stack has."""
    store: Literal["sqlite", "postgres"] | Absent = None
    """Where the stack the bench started kept its data (--store): a SQLite file per service,
    or a PostgreSQL database per service; absent with --target (the stack's own, not known
    here) and in runs made before the option existed (SQLite then)."""
    replicas: Annotated[int, Field(ge=1)] | Absent = None
    """Replicas of each service in the stack the bench started (--replicas); absent with
    --target and in runs made before the option existed (1 then)."""
    broker: Literal["shared", "private"] | Absent = None
    """The RabbitMQ node of the stack the bench started: `shared`, ORDERFLOW_BROKER_URL's (the
    machine's, serving other runs too: its CPU is not counted), or `private`, a node of the
    run's own (--private-broker: its CPU is counted as `rabbitmq`); absent with --target and
    in runs made before the option existed (shared then)."""
    remote_workers: Annotated[int, Field(ge=1)] | Absent = None
    """Locust workers started outside this bench that ran the users (--expect-workers; the
    master listened at --master-bind); absent when the bench's own Locust processes did."""


class OperationStats(Section):
    """One operation over the load phase. Percentiles are by nearest rank (always an observed
    latency) over all samples, failures included: a timeout is latency too."""

    count: Count
    """Samples, failed or not."""
    failures: Count
    """Samples that ended in an error."""
    error_rate: Fraction
    """failures / count (0 when there is no sample)."""
    per_s: PerSecond
    """count / the load phase's duration."""
    mean_ms: Ms
    """Mean latency."""
    p50_ms: Ms
    """Median latency."""
    p95_ms: Ms
    """95th percentile latency."""
    p99_ms: Ms
    """99th percentile latency."""
    max_ms: Ms
    """Highest latency."""
    errors: Annotated[dict[str, Annotated[int, Field(ge=1)]], Field(max_length=10)]
    """The ten most frequent error messages and how often each occurred, most frequent
    first."""


class SecondStats(Section):
    """One operation in one second."""

    count: Count
    failures: Count
    p50_ms: Ms
    p99_ms: Ms
    max_ms: Ms


class Second(Section):
    """One whole second of the load phase."""

    second: Count
    """Seconds since the first sample, from 0."""
    operations: dict[OperationName, SecondStats]
    """The operations with at least one sample in this second."""


class Summary(Section):
    """The style at a glance."""

    requests: Count
    """Requests sent: every sample but order_completed."""
    requests_per_s: PerSecond
    """requests / the load phase's duration."""
    orders_completed: Count
    """Orders whose terminal status reached the client without error."""
    orders_per_s: PerSecond
    """orders_completed / the load phase's duration."""
    error_rate: Fraction
    """Failed samples over all samples, order_completed included."""
    order_p50_ms: Ms
    """Median time from placing an order to its terminal status at the client."""
    order_p95_ms: Ms
    """95th percentile of the same."""
    order_p99_ms: Ms
    """99th percentile of the same."""
    order_max_ms: Ms
    """Longest of the same."""


class LoadGenerator(Section):
    """What generating the load cost, to tell a slow system from a saturated generator."""

    cpu_s: NonNegative
    """CPU seconds used by the Locust processes during the load phase."""
    cpu_cores: NonNegative
    """cpu_s / wall-clock seconds: cores kept busy on average."""
    processes: Annotated[int, Field(ge=1)]
    """Locust processes."""
    saturated: bool
    """Whether the generator ran out of CPU, which makes the numbers a floor of what the style
    can do."""
    warnings: list[str]
    """What the runner noticed about the generator, in words."""
    measured_cpu_s: NonNegative | None = None
    """CPU seconds of the Locust processes from the moment the load started to Locust's exit
    (cpu_s without Locust's start-up); null if the start was never seen."""
    busiest_core: NonNegative | Absent = None
    """The busiest Locust process's CPU over its life, as a share of one core."""
    core_per_process: NonNegative | None = None
    """measured_cpu_s over the seconds from the load's start to Locust's exit, per Locust
    process: the share of one core each used while the load ran (null if the start was never
    seen)."""
    remote_workers: Annotated[int, Field(ge=1)] | Absent = None
    """Locust workers started outside this bench (--expect-workers, maybe on other machines)
    that ran the users; absent when the bench's own processes did. Every CPU figure above is
    then the master's alone: the workers' CPU, and whether they saturated, are not known."""


class CpuPerCall(Section):
    """CPU-ms one no-op cost, from the processes' CPU during the calibration (docs/bench.md,
    CPU per order and the bound): server side (the four services, and RabbitMQ with
    --private-broker; the broker's no-op is served by RabbitMQ alone, so without it about 0)
    and client side (the Locust processes). Null where a side could not be measured (a stack
    the bench did not start)."""

    server_ms: NonNegative | None
    client_ms: NonNegative | None


class CalibrationAfterLoad(Section):
    """The no-op run again after the load, priced as the calibration before it was."""

    duration_s: Positive
    """Planned seconds of the no-op after the load (the calibration's)."""
    per_s: PerSecond
    """No-ops per second after the load."""
    error_rate: Fraction
    """Failed no-ops over all no-ops after the load."""
    load_generator: LoadGenerator
    """What the load generator used for it."""
    cpu_ms_per_call: CpuPerCall | None
    """Its price; null when its CPU could not be measured."""


class Calibration(Section):
    """The style's transport ceiling on this machine: a no-op over the same stack, protocol
    and load generator (REST GET /health, gRPC health Check, GraphQL { __typename }, JSON-RPC
    rpc.ping, a broker round trip to the generator's own queue), driven in a closed model by
    the run's users (at most 10 with the open model)."""

    operation: Literal["noop"]
    """The operation driven."""
    duration_s: Positive
    """Planned seconds of the calibration."""
    per_s: PerSecond
    """No-ops per second: the ceiling."""
    p50_ms: Ms
    """Median no-op latency."""
    p99_ms: Ms
    """99th percentile no-op latency."""
    error_rate: Fraction
    """Failed no-ops over all no-ops."""
    order_ratio: NonNegative | None
    """orders_per_s / per_s (null when the ceiling is 0): the order flow's throughput as a
    share of what its transport alone carries here. An order costs several calls (and a saga)
    where a no-op costs one, so the ratio is small; compare it across styles."""
    load_generator: LoadGenerator
    """What the load generator used during the calibration; a saturated generator means the
    ceiling is the generator's, not the transport's."""
    load_generator_limited: bool | Absent = None
    """Whether the Locust processes used 0.75 of a core each or more while the no-op ran
    (load_generator.core_per_process), or the generator was saturated: the ceiling is then the
    load generator's limit at least as much as the transport's."""
    cpu_ms_per_call: CpuPerCall | Absent = None
    """The no-op's price the bound uses: with `after_load`, the mean of the price before the
    load (`cpu_ms_per_call_before_load`) and after it; else the price before the load."""
    cpu_ms_per_call_before_load: CpuPerCall | Absent = None
    """The price measured before the load alone; absent when no no-op ran after the load."""
    after_load: CalibrationAfterLoad | Absent = None
    """The same no-op again after the load (and its audit), as long: a machine's speed drifts
    over a style's run, and the load sits between the two (docs/bench.md). Absent against a
    --target (no bound without the services' CPU) and in runs made before it existed."""


class TransportHops(Section):
    """What an average order of the mix sends over one transport, and the no-op that prices it."""

    calls: NonNegative
    """Requests with their answers: one no-op each."""
    messages: NonNegative
    """Messages one way (pushes on an open socket, broker publishes and deliveries): half a
    no-op each."""
    stream_events: NonNegative
    """Events on a response the client reads whole (Server-Sent Events): half the no-op's
    server side each."""
    noop_ms: NonNegative
    """CPU-ms of the no-op that priced them, server plus client side."""
    priced_by: str
    """The style whose calibration priced them: the transport's own, or a stand-in (the
    bounded style's own no-op) when this run did not calibrate that transport."""


class Bound(Section):
    """What an order would cost if everything it sends cost what a no-op costs on its transport
    (server + client side) and each store transaction a bare write transaction on the run's
    store."""

    hops: NonNegative
    """Calls, messages and stream events per completed order in the mix, all transports."""
    noop_ms: NonNegative
    """CPU-ms of the style's own no-op, server plus client side."""
    transactions: NonNegative
    """Store write transactions per order across the services (weighted by the mix's
    outcomes)."""
    transaction_ms: NonNegative
    """CPU-ms of one small write transaction (a one-row insert and its commit) on the run's
    store, measured once per run: SQLite as the services open it (WAL, synchronous=NORMAL), or
    with `store: postgres` the machine's PostgreSQL, the client's CPU plus its backend's (the
    client's alone when the server is elsewhere, as its backends are then left out of the
    totals too)."""
    cpu_ms_per_order: NonNegative
    """The transports' hops at their no-op prices + transactions * transaction_ms."""
    transports: dict[str, TransportHops] | Absent = None
    """By transport (the style whose no-op prices it): what the order sends over it."""
    stand_ins: list[str] | Absent = None
    """Transports this run did not calibrate, priced at the style's own no-op instead."""


class Cpu(Section):
    """CPU-milliseconds per completed order while the style's load ran (from the load's start
    to Locust's exit), read from /proc/<pid>/stat (utime + stime) for each process, divided by
    the completed orders: the mix's browse and look-up are included. See docs/bench.md, CPU per
    order and the bound."""

    orders: Count
    """Completed orders the figures are divided by."""
    processes: dict[str, NonNegative | None]
    """CPU-ms per order of each process: the four services and `locust` (the load generator),
    with --store postgres `postgresql` (the server's backends serving the stack's databases),
    and with --private-broker `rabbitmq` (the run's own RabbitMQ node); null when it was not
    attributed (see not_attributed) or no order completed."""
    total_ms: NonNegative | None
    """The sum of the processes' figures that are not null (so without what not_attributed
    names)."""
    not_attributed: dict[str, str]
    """Processes whose CPU the figures leave out, with why (RabbitMQ in a bench without
    --private-broker: the bench did not start it, and the machine's broker serves other runs
    too)."""
    bound: Bound | None
    """Null without a calibration, or when its CPU could not be measured."""
    bound_fraction: NonNegative | None
    """bound.cpu_ms_per_order / total_ms: the share of what this machine allows that the style
    reaches (1 would be an order costing no more than its hops and transactions). Null without
    a bound."""


class StyleResult(Section):
    """Everything measured for one style."""

    operations: dict[OperationName, OperationStats]
    """Statistics of each operation over the whole load phase, in the flow's order."""
    per_second: list[Second]
    """The load phase second by second, to see warm-up, stalls and drift. Samples are placed by
    the second they were due to start; those before the first second count in it and those
    after the last in the last."""
    summary: Summary
    calibration: Calibration | None
    """Null when no calibration was run."""
    load_generator: LoadGenerator
    scenario: StyleScenario | Absent = None
    audit: Audit | AuditError | Absent = None
    """The audit after the style's load (see docs/scenarios.md, The audit), or why the books
    could not be read. In a plain bench run the stack is shared by the styles (and, with
    --target, other runs): the orders and payments are this style's, the stock and the
    notification repeats the stack's."""
    cpu: Cpu | Absent = None
    telemetry: Telemetry | Absent = None
    """Each service's patterns, CPU and memory second by second while the load ran (a capacity
    search has none)."""


class CapacityStep(Section):
    """One rate of a capacity search."""

    rate: Positive
    """Task arrivals offered per second in this step (open model)."""
    per_s: PerSecond
    """Orders completed without error per second of the step."""
    p99_ms: Ms
    """99th percentile latency over every sample of the step; null without samples."""
    error_rate: Fraction
    """Failed samples over all samples of the step."""
    load_generator_saturated: bool
    """A load-generator process ran at 90% of a core or more: the step then does not count as
    held, since the generator, not the style, may have set the limit."""
    held: bool
    """p99_ms <= slo_p99_ms, error_rate < max_error_rate (arrivals never sent count as errors)
    and the load generator not saturated."""


class StyleCapacity(Section):
    """One style's capacity search."""

    held_rate: NonNegative | None
    """The highest rate that held, or null if none did."""
    steps: list[CapacityStep]
    """The steps in the order they ran."""


class Capacity(Section):
    """A capacity search: the open-model rate raised step by step until a step no longer held
    the service-level objective."""

    slo_p99_ms: Positive
    """A step holds only if its p99 over all samples is at most this."""
    max_error_rate: Fraction
    """A step holds only if its error rate is below this."""
    step_s: Positive
    """Seconds each rate was held."""
    styles: dict[StyleName, StyleCapacity]
    """The search of each style."""


class Results(Section):
    """What `orderflow bench` writes to results.json: the same order flow driven in each
    integration style under the same load. Every statistic is computed from the raw samples of
    all Locust processes. Latencies are in milliseconds rounded to 0.1, throughputs are per
    second rounded to 0.01, error rates are fractions (0 to 1) rounded to 0.0001. A scenario
    run (orderflow bench scenarios/<name>.yaml) adds the scenario and, for every style, its
    failure isolation; every run audits the stores after each style's load."""

    schema_: Annotated[Literal["orderflow.bench/v1"], Field(alias="schema")]
    """The version of this document's shape; a change that breaks readers gets a new
    version."""
    run: Run
    styles: Annotated[dict[StyleName, StyleResult], Field(min_length=1)]
    """One result per style that was run, in the order they were run."""
    capacity: Capacity | Absent = None
    scenario: Scenario | Absent = None


class _Untitled(GenerateJsonSchema):
    """Pydantic titles every field with its name made into words; the schema says nothing more
    with them, so they are left out."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: Any, mode: Any = "validation") -> Any:
        return _unwrapped(super().generate(schema, mode))


def _unwrapped(node: Any) -> Any:
    """Descriptions as one line each: the docstrings they come from are wrapped for the code."""
    if isinstance(node, dict):
        return {
            key: " ".join(value.split())
            if key == "description" and isinstance(value, str)
            else _unwrapped(value)
            for key, value in node.items()
        }
    return [_unwrapped(item) for item in node] if isinstance(node, list) else node


def json_schema() -> dict[str, Any]:
    """The published JSON schema of results.json (docs/results.schema.json)."""
    generated = Results.model_json_schema(by_alias=True, schema_generator=_Untitled)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **generated,
        "title": f"orderflow bench results ({SCHEMA})",
    }


def schema_text() -> str:
    """The schema as the file holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
