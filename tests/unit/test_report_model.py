"""The report's input: a results folder, read and checked enough to be drawn, or one clear
error naming the path. The test documents are checked against the published schema first."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from harness.report import ReportError, load_run
from harness.report.report import facts
from tests.unit.report_documents import plain_document, scenario_document, write_folder

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "results.schema.json").read_text()
)


@pytest.mark.parametrize(
    "document",
    [plain_document(), plain_document(lost=2), scenario_document(), scenario_document(stuck=1)],
    ids=["plain", "plain-lost", "scenario", "scenario-stuck"],
)
def test_the_test_documents_are_valid_results(document: dict[str, Any]) -> None:
    errors = sorted(Draft202012Validator(SCHEMA).iter_errors(document), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_a_plain_run_is_read_with_its_styles_in_order(tmp_path: Path) -> None:
    run = load_run(write_folder(tmp_path, plain_document(("grpc", "rest", "broker"))))
    assert list(run.styles) == ["grpc", "rest", "broker"]
    assert (run.kind, run.name, run.scenario) == ("plain bench", "bench", None)
    assert run.meta.users == 5 and run.folder == tmp_path


def test_a_scenario_run_is_named_by_its_scenario(tmp_path: Path) -> None:
    run = load_run(write_folder(tmp_path, scenario_document("broker-outage")))
    assert (run.kind, run.name) == ("scenario broker-outage", "broker-outage")


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    expected = f"^{re.escape(str(tmp_path / 'nope'))}: no such results folder$"
    with pytest.raises(ReportError, match=expected):
        load_run(tmp_path / "nope")


def test_a_folder_without_results_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"results\.json: missing"):
        load_run(tmp_path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"schema": "orderflow.bench/v1", "run": {', "not readable JSON"),
        ("[1, 2]", "not an orderflow results document"),
        ('{"schema": "orderflow.bench/v0", "run": {}, "styles": {}}', "not an orderflow"),
        ('{"schema": "orderflow.bench/v1", "styles": {"rest": {}}}', "has no `run` section"),
        ('{"schema": "orderflow.bench/v1", "run": {}, "styles": {}}', "has no style results"),
        ('{"schema": "orderflow.bench/v1", "run": {}, "styles": {"rest": 1}}', "not an object"),
    ],
)
def test_an_invalid_results_file_is_named_with_its_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "results.json").write_text(text)
    with pytest.raises(ReportError) as raised:
        load_run(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'results.json'}: ") and problem in message
    assert "\n" not in message


def test_the_run_description_says_the_store_replicas_and_remote_workers(tmp_path: Path) -> None:
    """`orderflow bench --store postgres --expect-workers 2`: the report's facts say so."""
    document = plain_document()
    document["run"] |= {"store": "postgres", "replicas": 2, "remote_workers": 2}
    said = dict(facts(load_run(write_folder(tmp_path, document))))
    assert said["stack"].endswith(
        "; store PostgreSQL, 2 replicas per service;"
        " broker the machine's RabbitMQ (its CPU not counted)"
    )
    assert said["load"].endswith(
        "2 Locust workers started outside the bench (their CPU is not counted)"
    )


def test_the_run_description_says_a_private_brokers_cpu_is_counted(tmp_path: Path) -> None:
    """`orderflow bench --private-broker`."""
    document = plain_document()
    document["run"] |= {"store": "sqlite", "replicas": 1, "broker": "private"}
    said = dict(facts(load_run(write_folder(tmp_path, document))))
    assert said["stack"].endswith("; broker a private RabbitMQ node (its CPU counted)")


def test_a_run_from_before_the_store_was_recorded_names_only_its_target(tmp_path: Path) -> None:
    said = dict(facts(load_run(write_folder(tmp_path, plain_document()))))
    assert said["stack"] == "own stack (broker namespace bench-242505a69c)"
    assert said["load"].endswith("1 Locust process")
