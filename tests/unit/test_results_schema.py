"""docs/results.schema.json is generated from harness/bench/results_model.py; regenerate it with
`.venv/bin/python scripts/export_results_schema.py` after changing the model."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from harness.bench.results_base import StyleName
from harness.bench.results_model import json_schema, schema_text
from services.kernel import styles

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "docs" / "results.schema.json"
SCRIPT = ROOT / "scripts" / "export_results_schema.py"


def test_the_published_schema_is_the_models() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), (
        f"{SCHEMA_PATH.relative_to(ROOT)} drifted from the model; "
        f"run .venv/bin/python {SCRIPT.relative_to(ROOT)}"
    )


def test_the_export_command_agrees() -> None:
    checked = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert (checked.returncode, checked.stdout) == (0, ""), checked.stdout + checked.stderr


def test_the_generated_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(schema_text()) == schema


def test_the_style_names_are_the_vocabularys() -> None:
    """The kernel's styles and the harness's variants of them, in the vocabulary's order."""
    from harness import vocabulary

    literal = typing.get_args(StyleName)[0]
    assert typing.get_args(literal) == vocabulary.RUNNABLE
    assert set(styles.ALL) <= set(vocabulary.RUNNABLE)


def test_the_models_invariants_are_the_audits_counts() -> None:
    """The Literal cannot be built from the vocabulary's tuple for mypy: the two must agree."""
    from typing import get_args

    from harness import vocabulary
    from harness.bench.results_scenario_model import Invariant

    assert get_args(Invariant) == vocabulary.AUDIT_COUNTS
