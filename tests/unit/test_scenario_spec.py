"""Scenario files: every shipped one loads, and each mistake names its file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.scenarios import (
    Expectation,
    FaultSpec,
    LoadSpec,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from harness.vocabulary import STYLES
from services.kernel.faults import Fault

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))
BOOKS = (
    "lost",
    "stuck",
    "double_charges",
    "unrefunded_charges",
    "unpaid_confirmed",
    "stock_not_conserved",
)
HERE = Path("scenarios/x.yaml")
GOOD_LOAD = "load: {model: closed, users: 10, duration: 45s, warmup: 5s}"


def parse(text: str, path: Path = HERE) -> Scenario:
    return parse_scenario(textwrap.dedent(text), path)


def rejected(text: str, path: Path = HERE) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse(text, path)
    return caught.value


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description
    assert scenario.path == path


def test_the_fourteen_scenarios_are_shipped() -> None:
    assert {p.stem for p in SHIPPED} == {
        "baseline",
        "payment-latency",
        "payment-errors",
        "payment-hang",
        "payment-outage",
        "inventory-blackhole",
        "broker-outage",
        "order-crash-mid-saga",
        "traffic-spike",
        "poison-messages",
        "notification-outage",
        "front-broker-outage",
        "replica-crash",
        "balancing",
    }


def test_the_shipped_values() -> None:
    baseline = load_scenario(SCENARIOS / "baseline.yaml")
    assert baseline.load == LoadSpec(
        model="closed", users=10, rate=None, duration_s=30.0, warmup_s=5.0
    )
    assert baseline.faults == ()
    assert baseline.expect == (
        Expectation(styles=STYLES, zero=BOOKS, min_success_ratio={"before": 0.99}),
    )
    spike = load_scenario(SCENARIOS / "traffic-spike.yaml")
    assert spike.load == LoadSpec(
        model="open", users=None, rate=30.0, duration_s=45.0, warmup_s=5.0
    )
    assert [f.describe() for f in spike.faults] == ["load spike x4 at 15s for 10s"]
    outage = load_scenario(SCENARIOS / "broker-outage.yaml")
    assert outage.needs_private_broker()
    assert not load_scenario(SCENARIOS / "poison-messages.yaml").needs_private_broker()


FULL = """\
    name: x
    description: >
      Everything at once.
    load:
      model: open
      rate: 12.5
      users: 40
      duration: 2m
      warmup: 10
    styles: [grpc, broker]
    profile: resilient
    grace: 45s
    faults:
      - at: 60s
        duration: 20s
        target: load
        kind: spike
        factor: 3
      - {at: 20, duration: 10s, target: payment, kind: errors, operation: payment.charge,
         error_rate: 0.5}
      - at: 30s
        duration: 10s
        target: broker
        kind: outage
      - at: 50s
        duration: 5s
        target: notification
        kind: slow-consumer
        latency_ms: 250
    expect:
      - zero: [lost]
      - styles: [broker]
        zero: [stuck, duplicate_notifications]
        min_success_ratio: {before: 0.9, during: 0, after: 1}
"""


def test_a_full_scenario_reads_into_its_model() -> None:
    scenario = parse(FULL)
    assert scenario == Scenario(
        name="x",
        description="Everything at once.",
        load=LoadSpec(model="open", users=40, rate=12.5, duration_s=120.0, warmup_s=10.0),
        styles=("grpc", "broker"),
        profile="resilient",
        grace_s=45.0,
        faults=(
            FaultSpec(
                at_s=20.0,
                duration_s=10.0,
                target="payment",
                kind="errors",
                params={"operation": "payment.charge", "error_rate": 0.5, "error": "transient"},
                line=19,
            ),
            FaultSpec(
                at_s=30.0,
                duration_s=10.0,
                target="broker",
                kind="outage",
                params={"how": "kill"},
                line=21,
            ),
            FaultSpec(
                at_s=50.0,
                duration_s=5.0,
                target="notification",
                kind="slow-consumer",
                params={"latency_ms": 250.0},
                line=25,
            ),
            FaultSpec(
                at_s=60.0,
                duration_s=20.0,
                target="load",
                kind="spike",
                params={"factor": 3.0},
                line=14,
            ),
        ),
        expect=(
            Expectation(styles=("grpc", "broker"), zero=("lost",), min_success_ratio={}),
            Expectation(
                styles=("broker",),
                zero=("stuck", "duplicate_notifications"),
                min_success_ratio={"before": 0.9, "during": 0.0, "after": 1.0},
            ),
        ),
        path=HERE,
    )
    assert scenario.faults[0].ends_s == 30.0
    assert scenario.needs_private_broker()
    assert dict(scenario.phases) == {
        "before": (10.0, 20.0),
        "during": (20.0, 80.0),
        "after": (80.0, 120.0),
    }


def test_the_defaults() -> None:
    scenario = parse("""\
        name: x
        description: d
        load: {model: closed, users: 3, duration: 30}
        faults:
          - {at: 0, duration: 5, target: payment, kind: latency, operation: payment.refund,
             latency_ms: 1}
          - {at: 10, duration: 5, target: payment, kind: errors, operation: payment.charge,
             error_rate: 1, error: permanent}
    """)
    assert scenario.load == LoadSpec(
        model="closed", users=3, rate=None, duration_s=30.0, warmup_s=0.0
    )
    assert (scenario.styles, scenario.profile, scenario.grace_s) == (STYLES, None, 30.0)
    assert scenario.expect == ()
    assert scenario.faults[0].params == {
        "operation": "payment.refund",
        "latency_ms": 1.0,
        "jitter_ms": 0.0,
    }
    assert scenario.faults[1].params["error"] == "permanent"
    assert not scenario.needs_private_broker()


def test_empty_lists_of_faults_and_expectations_are_none() -> None:
    scenario = parse(f"name: x\ndescription: d\n{GOOD_LOAD}\nfaults: []\nexpect: []\n")
    assert (scenario.faults, scenario.expect) == ((), ())
    assert dict(scenario.phases) == {"before": (5.0, 45.0)}


def test_a_fault_describes_itself_in_one_line() -> None:
    faults = parse("""\
        name: x
        description: d
        load: {model: closed, users: 1, duration: 1m}
        faults:
          - {at: 1, duration: 2, target: payment, kind: latency, operation: payment.charge,
             latency_ms: 500, jitter_ms: 100}
          - {at: 3, duration: 4, target: inventory, kind: hang, operation: inventory.reserve}
          - {at: 5, duration: 6, target: broker, kind: outage, how: stop}
          - {at: 12, duration: 1, target: broker, kind: poison, rate: 20}
          - {at: 15, duration: 10, target: order, kind: slow-start}
    """).faults
    assert [f.describe() for f in faults] == [
        "payment latency 500 ±100ms on payment.charge at 1s for 2s",
        "inventory hang on inventory.reserve at 3s for 4s",
        "broker outage (stop) at 5s for 6s",
        "broker poison 20/s at 12s for 1s",
        "order slow-start at 15s for 10s",
    ]


# Each mistake below is a whole file; `line` is 1-based, as an editor shows it.
MISTAKES = {
    "wrong type": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 15s
            duration: 10s
            target: payment
            kind: latency
            operation: payment.charge
            latency_ms: fast
        """,
        10,
        "faults[0].latency_ms",
        "must be a number above 0, at most 600000, not 'fast'",
    ),
    "a boolean is not a number": (
        "name: x\ndescription: d\nload:\n  model: closed\n  users: true\n  duration: 30s\n",
        5,
        "load.users",
        "must be a whole number, at least 1, not True",
    ),
    "unknown field, with a suggestion": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 15s
            duration: 10s
            target: payment
            kind: latency
            operation: payment.charge
            latncy_ms: 500
        """,
        10,
        "faults[0].latncy_ms",
        "unknown field for latency (did you mean latency_ms?); known here: at, duration, target, "
        "kind, operation, latency_ms, jitter_ms",
    ),
    "unknown top-level field": (
        f"name: x\ndescription: d\n{GOOD_LOAD}\nfault: []\n",
        4,
        "fault",
        "unknown field (did you mean faults?); known here: name, description, load",
    ),
    "a parameter of another kind": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 15s
            duration: 10s
            target: payment
            kind: crash
            latency_ms: 500
        """,
        9,
        "faults[0].latency_ms",
        "unknown field for crash; known here: at, duration, target, kind",
    ),
    "a misspelt kind field": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 15s
            duration: 10s
            target: payment
            knd: crash
        """,
        8,
        "faults[0].knd",
        "unknown field (did you mean kind?)",
    ),
    "unknown kind": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 15s
            duration: 10s
            target: payment
            kind: crsh
        """,
        8,
        "faults[0].kind",
        "unknown fault kind 'crsh' (did you mean crash?)",
    ),
    "a kind of another target": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - {{at: 15s, duration: 10s, target: payment,
             kind: slow-consumer, latency_ms: 100}}
        """,
        6,
        "faults[0].kind",
        "slow-consumer is a fault of notification, not payment",
    ),
    "operation not of the target": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 15s
            duration: 10s
            target: payment
            kind: hang
            operation: inventory.reserve
        """,
        9,
        "faults[0].operation",
        "unknown payment operation 'inventory.reserve'; choose from payment.charge, payment.refund",
    ),
    "a required parameter missing": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 15s
            duration: 10s
            target: payment
            kind: errors
            operation: payment.charge
        """,
        5,
        "faults[0].error_rate",
        "required",
    ),
    "rate in the closed model": (
        "name: x\ndescription: d\nload:\n  model: closed\n  users: 5\n  rate: 10\n"
        "  duration: 30s\n",
        6,
        "load.rate",
        "the closed model takes no rate (for arrivals per second, use model: open)",
    ),
    "the open model without a rate": (
        "name: x\ndescription: d\nload:\n  model: open\n  duration: 30s\n",
        3,
        "load.rate",
        "required by the open model",
    ),
    "a spike with the closed model": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 15s
            duration: 10s
            target: load
            kind: spike
            factor: 2
        """,
        8,
        "faults[0].kind",
        "a spike multiplies the open model's rate, and load.model is closed",
    ),
    "a fault ending after the load": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 40s
            duration: 10s
            target: payment
            kind: crash
        """,
        6,
        "faults[0].duration",
        "the fault would end at 50s, not before the load ends (45s)",
    ),
    "a fault ending as the load ends": (
        f"{GOOD_LOAD}\nname: x\ndescription: d\nfaults:\n"
        "  - {at: 30s, duration: 15s, target: order, kind: pause}\n",
        5,
        "faults[0].duration",
        "the fault would end at 45s, not before the load ends (45s)",
    ),
    "a fault starting after the load": (
        f"{GOOD_LOAD}\nname: x\ndescription: d\nfaults:\n"
        "  - {at: 1m, duration: 1, target: order, kind: pause}\n",
        5,
        "faults[0].at",
        "60s is not before the load ends (45s)",
    ),
    "a fault in the warmup": (
        f"{GOOD_LOAD}\nname: x\ndescription: d\nfaults:\n"
        "  - {at: 2s, duration: 1, target: order, kind: pause}\n",
        5,
        "faults[0].at",
        "2s is in the warmup (load.warmup: 5s)",
    ),
    "overlapping faults on one target": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        faults:
          - at: 20s
            duration: 10s
            target: payment
            kind: crash
          - at: 15s
            duration: 10s
            target: inventory
            kind: pause
          - at: 10s
            duration: 15s
            target: payment
            kind: latency
            operation: payment.charge
            latency_ms: 100
        """,
        5,
        "faults[0]",
        "overlaps faults[2] on line 13 (payment latency 100ms on payment.charge at 10s for "
        "15s): one fault at a time on a target",
    ),
    "duplicate key": (
        "name: x\ndescription: d\nload:\n  model: closed\n  users: 10\n  duration: 30s\n"
        "  users: 20\n",
        7,
        "load.users",
        "given twice (first on line 5)",
    ),
    "YAML syntax error": (
        "name: x\ndescription: d\nload:\n  model: closed\n  users: [10\n  duration: 30s\n",
        6,
        "",
        "not valid YAML",
    ),
    "name not matching the file": (
        f"description: d\n{GOOD_LOAD}\nname: payment-outage\n",
        3,
        "name",
        "'payment-outage' is not the file's name (x.yaml)",
    ),
    "a name that is not a slug": (
        f"description: d\n{GOOD_LOAD}\nname: Payment_Outage\n",
        3,
        "name",
        "must be lowercase letters, digits and dashes",
    ),
    "expectation style not in styles": (
        f"""\
        name: x
        description: d
        {GOOD_LOAD}
        styles: [rest, grpc]
        expect:
          - zero: [lost]
          - styles: [rest, broker]
            zero: [stuck]
        """,
        7,
        "expect[1].styles[1]",
        "broker is not one of the scenario's styles (rest, grpc)",
    ),
    "unknown audit count": (
        f"name: x\ndescription: d\n{GOOD_LOAD}\nexpect:\n  - zero: [lost, stuk]\n",
        5,
        "expect[0].zero[1]",
        "unknown audit count 'stuk' (did you mean stuck?)",
    ),
    "a phase the scenario does not have": (
        f"name: x\ndescription: d\n{GOOD_LOAD}\nexpect:\n"
        "  - zero: [lost]\n    min_success_ratio:\n      during: 0.5\n",
        7,
        "expect[0].min_success_ratio.during",
        "this scenario has no during phase: it has no faults",
    ),
    "a ratio above 1": (
        f"name: x\ndescription: d\n{GOOD_LOAD}\nexpect:\n  - min_success_ratio: {{before: 99}}\n",
        5,
        "expect[0].min_success_ratio.before",
        "must be a ratio from 0 to 1, not 99",
    ),
    "an expectation of nothing": (
        f"name: x\ndescription: d\n{GOOD_LOAD}\nexpect:\n  - styles: [rest]\n",
        5,
        "expect[0]",
        "expects nothing",
    ),
    "a style twice": (
        f"name: x\ndescription: d\n{GOOD_LOAD}\nstyles:\n  - rest\n  - grpc\n  - rest\n",
        7,
        "styles[2]",
        "'rest' is listed twice",
    ),
    "a duration that is not whole seconds": (
        "name: x\ndescription: d\nload: {model: closed, users: 1, duration: 1.5s}\n",
        3,
        "load.duration",
        "must be whole seconds above 0, as 30, 30s or 2m, not '1.5s'",
    ),
    "a warmup as long as the run": (
        "name: x\ndescription: d\nload: {model: closed, users: 1, duration: 30s, warmup: 30s}\n",
        3,
        "load.warmup",
        "must be shorter than load.duration (30s)",
    ),
    "no styles": (
        f"name: x\ndescription: d\n{GOOD_LOAD}\nstyles: []\n",
        4,
        "styles",
        "must name at least one style",
    ),
    "a merge key": (
        "name: x\ndescription: d\nload:\n  <<: {model: closed}\n  users: 1\n",
        4,
        "load",
        "merge keys (<<) are not read here",
    ),
    "a tag PyYAML's safe loader refuses": (
        "name: x\ndescription: !!python/object:os.system d\n",
        2,
        "description",
        "not a value this format reads",
    ),
    "a required top-level field missing": (
        f"name: x\n{GOOD_LOAD}\n",
        1,
        "description",
        "required",
    ),
    "not a mapping": (
        "- name: x\n",
        1,
        "",
        "must be a mapping of fields, not a list",
    ),
    "an empty file": ("# nothing yet\n", 1, "", "empty"),
}


@pytest.mark.parametrize(("text", "line", "field", "problem"), MISTAKES.values(), ids=MISTAKES)
def test_a_mistake_names_the_file_the_line_and_the_field(
    text: str, line: int, field: str, problem: str
) -> None:
    error = rejected(text)
    assert (error.line, error.field) == (line, field), str(error)
    where = f"scenarios/x.yaml:{line}: {field}: " if field else f"scenarios/x.yaml:{line}: "
    assert str(error).startswith(where + problem), str(error)


def test_a_wrong_value_is_quoted_in_full() -> None:
    error = rejected(MISTAKES["wrong type"][0])
    assert str(error) == (
        "scenarios/x.yaml:10: faults[0].latency_ms: must be a number above 0, at most 600000, "
        "not 'fast'"
    )


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"missing\.yaml: cannot be read"):
        load_scenario(tmp_path / "missing.yaml")


def test_a_file_is_read_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(textwrap.dedent(FULL))
    assert load_scenario(path) == parse(FULL, path)


def test_a_second_spike_is_refused_at_its_line() -> None:
    text = """\
        name: x
        description: d
        load: {model: open, rate: 10, duration: 60s}
        faults:
          - {at: 10s, duration: 5s, target: load, kind: spike, factor: 2}
          - {at: 30s, duration: 5s, target: load, kind: spike, factor: 3}
        """
    with pytest.raises(ScenarioError) as refused:
        parse(text)
    assert refused.value.line == 6 and refused.value.field == "faults[1]"
    assert "one spike per scenario; faults[0] on line 5 is one" in str(refused.value)


def test_an_application_fault_of_the_timeline_is_one_the_control_endpoint_accepts() -> None:
    """One model (services/kernel/faults.py) checks both: what a timeline sets, a service takes."""
    faults = parse("""\
        name: x
        description: d
        load: {model: closed, users: 3, duration: 30}
        faults:
          - {at: 0, duration: 5, target: payment, kind: latency, operation: payment.refund,
             latency_ms: 600000, jitter_ms: 600000}
          - {at: 10, duration: 5, target: payment, kind: errors, operation: payment.charge,
             error_rate: 1, error: permanent}
    """).faults
    for fault in faults:
        settable = {name: value for name, value in fault.params.items() if name != "operation"}
        assert Fault.parse(settable).to_json() == {**Fault().to_json(), **settable}


@pytest.mark.parametrize(
    ("field", "value", "wanted"),
    [
        ("jitter_ms", "600001", "a number from 0 to 600000"),
        ("jitter_ms", ".nan", "a number from 0 to 600000"),
        ("latency_ms", "0", "a number above 0, at most 600000"),
        ("latency_ms", "true", "a number above 0, at most 600000"),
    ],
)
def test_a_latency_the_control_endpoint_would_refuse_is_refused_with_its_line(
    field: str, value: str, wanted: str
) -> None:
    latency = "" if field == "latency_ms" else "latency_ms: 5, "
    error = rejected(f"""\
        name: x
        description: d
        load: {{model: closed, users: 3, duration: 30}}
        faults:
          - {{at: 0, duration: 5, target: payment, kind: latency, operation: payment.refund,
             {latency}{field}: {value}}}
    """)
    assert (error.line, error.field) == (6, f"faults[0].{field}"), str(error)
    assert f"must be {wanted}, not" in str(error)


# Files with several mistakes: the one reported is the first a reader meets, in the file's order
# (a fault's place in the load before its parameters).
FIRST_OF_SEVERAL = {
    "name before description": (
        "name: X\ndescription: ''\nload: {model: closed, users: 0, duration: 0}\n",
        "scenarios/x.yaml:1: name: must be lowercase letters, digits and dashes, not 'X'",
    ),
    "a fault's duration before its parameters": (
        "name: x\ndescription: d\nload: {model: closed, users: 1, duration: 60}\nfaults:\n"
        "  - {at: 100, duration: 0, target: payment, kind: latency, latency_ms: -1}\n",
        "scenarios/x.yaml:5: faults[0].duration: must be whole seconds above 0, as 30, 30s or"
        " 2m, not 0",
    ),
    "a spike in a closed model before its factor": (
        "name: x\ndescription: d\nload: {model: closed, users: 1, duration: 60}\nfaults:\n"
        "  - {at: 1, duration: 2, target: load, kind: spike, factor: 0.5}\n",
        "scenarios/x.yaml:5: faults[0].kind: a spike multiplies the open model's rate, and"
        " load.model is closed",
    ),
    "a load that is wrong before the faults that depend on it": (
        "name: x\ndescription: d\nload: {model: closed, users: 1, duration: 30, warmup: 40}\n"
        "faults:\n  - {at: 1, duration: 2, target: payment, kind: crash}\n",
        "scenarios/x.yaml:3: load.warmup: must be shorter than load.duration (30s)",
    ),
}


@pytest.mark.parametrize(("text", "message"), FIRST_OF_SEVERAL.values(), ids=FIRST_OF_SEVERAL)
def test_of_several_mistakes_the_first_in_the_files_order_is_named(text: str, message: str) -> None:
    assert str(rejected(text)) == message


def test_a_scenario_built_in_code_is_checked_by_the_same_model() -> None:
    load = LoadSpec(model="closed", users=2, duration_s=30.0)
    scenario = Scenario(name="x", description="d", load=load, path=HERE)
    assert (scenario.styles, scenario.faults, scenario.grace_s) == (STYLES, (), 30.0)
    with pytest.raises(ValidationError):
        Scenario(name="x", description="d", load=load)  # type: ignore[call-arg]  # no path
