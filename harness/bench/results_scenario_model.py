"""The sections of results.json a scenario run adds, and the audit every run adds
(results_model.py holds the rest of the document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from harness.bench.results_base import Absent, Count, Ms, Section, StyleName

Ratio = Annotated[float, Field(ge=0, le=1)] | None
NonNegative = Annotated[float, Field(ge=0)]
Invariant = Literal[
    "lost",
    "stuck",
    "double_charges",
    "unrefunded_charges",
    "unpaid_confirmed",
    "stock_not_conserved",
    "missing_notifications",
    "duplicate_notifications",
]


class Stopped(Section):
    """Present when a style could not run (or failed halfway): the scenario stopped there; the
    styles before it keep their results."""

    style: StyleName
    error: str


class ScenarioStack(Section):
    """The stack each style ran on: docs/scale-out.md."""

    replicas: Annotated[int, Field(ge=1)]
    store: Literal["sqlite", "postgres"]
    grpc_balancing: Literal["proxy-l7", "proxy-l4", "client"]
    claim_lease_s: NonNegative | None
    """ORDERFLOW_CLAIM_LEASE_S the services ran with; null: their default (10 s)."""


class Scenario(Section):
    """The scenario file the run came from."""

    name: Annotated[str, Field(min_length=1)]
    description: str
    file: str
    """The scenario file's path as given."""
    time_scale: Annotated[float, Field(gt=0)] | Absent = None
    """Every time in the file (load, warmup, each fault's start and end) was multiplied by
    this and rounded to whole seconds: orderflow bench --time-scale. 1 is the file as
    written."""
    warmup_s: NonNegative
    """Seconds at the start of each style's load that belong to no phase."""
    grace_s: NonNegative
    """How long the audit waited at most for orders in flight."""
    faults: list[str]
    """The timeline, one line per fault, as planned."""
    stack: ScenarioStack | Absent = None
    """The stack the file asked for (its `stack:` section); absent: the bench's own, one
    process per service on SQLite."""
    stopped: Stopped | Absent = None


class PhaseStats(Section):
    """One operation in one phase."""

    count: Count
    success_ratio: Ratio
    p50_ms: Ms
    p99_ms: Ms


class Phase(Section):
    """One phase of a scenario run: seconds from the start of the load, and how the operations
    fared."""

    from_s: float
    to_s: float
    count: Count
    success_ratio: Ratio
    """Share of the samples that succeeded, or null without samples."""
    p50_ms: Ms
    p99_ms: Ms
    order_success_ratio: Ratio
    """Orders that ended as the rules promise over orders attempted (place_order requests), or
    null without attempts: an order never accepted counts as a failure."""
    orders_per_s: NonNegative
    """Orders completed as the rules promise, per second of the phase."""
    operations: dict[Annotated[str, Field(min_length=1)], PhaseStats]


class Fault(Section):
    """A fault as it happened, in seconds from the start of the load. A crash ends when the
    restarted service is ready, later than planned."""

    target: str
    kind: str
    params: dict[str, Any]
    description: str
    planned_s: Annotated[list[float], Field(min_length=2, max_length=2)]
    began_s: float | None
    """null: it never began (see errors)."""
    ended_s: float | None
    errors: list[str]
    """What went wrong beginning or ending it."""


class Counts(Section):
    """Each invariant's violations."""

    lost: Count
    stuck: Count
    double_charges: Count
    unrefunded_charges: Count
    unpaid_confirmed: Count
    stock_not_conserved: Count
    missing_notifications: Count | Absent = None
    """Finished orders whose customer was not told their outcome once the run had settled
    (absent from results written before this count existed)."""
    duplicate_notifications: Count


class Audit(Section):
    """The invariants checked across the stores once the load stopped and in-flight work
    settled (see docs/scenarios.md)."""

    counts: Counts
    orders: dict[str, Count]
    """Orders in the store by STATUS/reason."""
    payments: dict[str, Count]
    """Payments in the store by status."""
    accepted: Count
    """Order requests the clients saw accepted."""
    examples: dict[Invariant, list[str]]
    """Up to ten examples of each count that is not zero."""
    waited_s: NonNegative
    """Seconds the audit waited for orders in flight to finish."""


class AuditError(Section):
    """Why the books could not be read."""

    error: str


class Isolated(Section):
    """An operation that needs none of the faulted parts."""

    success_ratio_before: float | None
    success_ratio_during: float | None
    p99_inflation: float | None


class BlastRadius(Section):
    """The operations that need none of the faulted parts, and how they fared during the
    faults."""

    faulted: list[str]
    operations: dict[str, Isolated]


class Depths(Section):
    """The broker queues' depths at one second."""

    t: float
    depths: dict[str, Count] | None
    notifications_owed: Count | None = None
    """The order service's notifications not yet acknowledged (null while it did not answer;
    absent from results written before it was sampled)."""


class Broker(Section):
    """The stack's broker queues: depth once a second (null while the broker did not answer),
    dead-lettered messages at the end; with them, the order service's backlog of notifications
    owed."""

    max_depth: dict[str, Count]
    max_notifications_owed: Count | Absent = None
    """The highest backlog of notifications owed by the order service (absent from results
    written before it was sampled)."""
    unreachable_s: Count
    dead_lettered: dict[str, Count] | None
    series: list[Depths]
    poison_published: Count


class Expectation(Section):
    """One check of the scenario file's expectations."""

    check: str
    seen: float | None
    passed: bool


class ReplicaSpread(Section):
    """What one replica received during the style's run (from the telemetry's readings)."""

    requests: Count
    share: Ratio
    """Its part of its service's requests (null: the service's replicas received none)."""
    by_kind: dict[Literal["http", "grpc", "websocket", "broker"], Count]


class Takeover(Section):
    """A killed order replica, and the other replicas finishing what it left: in the
    orchestrated styles its claimed open sagas, in the broker style every order open at the
    kill (docs/scenarios.md, Replicas)."""

    replica: str
    killed_s: float
    left: Count
    """Orders it left unfinished at the kill."""
    finished_s: float | None
    """When the last of them was finished; null: not by the end of the audit's settling."""
    recovery_s: NonNegative | None
    """From the kill to finished_s; null: nothing was left, or not finished."""
    still_open: Count
    """Of those, still open when the watch stopped."""
    error: str | Absent = None
    """Why the order database could not be read."""


class StyleScenario(Section):
    """A style's run of a scenario: its faults, phases, failure isolation, broker queues and
    expectations."""

    faults: list[Fault]
    phases: dict[Literal["before", "during", "after"], Phase]
    """before: from the warm-up's end to the first fault; during: to the last fault's end;
    after: to the end of the load. A run without faults has only before."""
    p99_inflation: dict[str, float | None]
    """Each operation's p99 during the faults over its p99 before."""
    blast_radius: BlastRadius
    recovery_s: NonNegative | None
    """Seconds from the last fault's end until completed orders were as before (3 seconds in a
    row); null without faults, or never within the run."""
    broker: Broker
    replicas: dict[str, dict[str, ReplicaSpread]] | Absent = None
    """With several replicas: each service's replicas' requests and shares."""
    takeovers: list[Takeover] | Absent = None
    """With several order replicas on PostgreSQL: each order replica killed and its recovery."""
    expectations: list[Expectation]
