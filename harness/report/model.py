"""A results folder as the report reads it: results.json, read through the model the bench
writes it from (harness/bench/results_model.py, whose JSON schema is docs/results.schema.json).

Every section reaches the report as that model's typed objects, and a wrong folder fails with one
clear line naming the path rather than a traceback halfway through drawing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.bench import table as terminal
from harness.bench.results_model import SCHEMA, Results, StyleResult
from harness.bench.results_model import Run as RunMeta
from harness.bench.results_scenario_model import Scenario

RESULTS = "results.json"


class ReportError(Exception):
    """A results folder that cannot be reported on; the message names the path."""


@contextlib.contextmanager
def reported_as_errors(*folders: Path) -> Iterator[None]:
    """Reading deeper than `load_run` checks, or writing the files: what goes wrong becomes a
    ReportError naming the folder, not a traceback (a results.json of another version, a folder
    the user cannot write to, as a container's root-owned ./results)."""
    where = " / ".join(str(folder) for folder in folders)
    try:
        yield
    except OSError as error:
        raise ReportError(f"{where}: cannot write: {error}") from error
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise ReportError(
            f"{where}: {RESULTS} lacks or garbles what the report reads ({error!r});"
            " was it written by another version of orderflow?"
        ) from error


@dataclass(frozen=True)
class Run:
    """One results folder: one plain bench run or one scenario run."""

    folder: Path
    results: Results

    @property
    def meta(self) -> RunMeta:
        return self.results.run

    @property
    def styles(self) -> dict[str, StyleResult]:
        """Each style's result, in the order they ran."""
        return terminal.by_style(self.results)

    @property
    def scenario(self) -> Scenario | None:
        return self.results.scenario

    @property
    def kind(self) -> str:
        """`scenario <name>` or `plain bench`: what a reader calls the run."""
        return f"scenario {self.scenario.name}" if self.scenario else "plain bench"

    @property
    def name(self) -> str:
        return self.scenario.name if self.scenario else "bench"


def load_run(folder: Path) -> Run:
    """The run in `folder`, or a ReportError saying what is wrong with which path."""
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such results folder")
    path = folder / RESULTS
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: missing (is {folder} a results folder?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"{path}: not readable JSON ({error})") from None
    _check(path, document)
    try:
        return Run(folder, Results.model_validate(document))
    except ValidationError as error:
        raise ReportError(f"{folder}: {_garbled(error)}") from None


def _garbled(error: ValidationError) -> str:
    """The first thing the model found wrong, where it is: ['run']['command']: Field required."""
    first = error.errors()[0]
    where = "".join(f"[{part!r}]" for part in first["loc"])
    return (
        f"{RESULTS} lacks or garbles what the report reads ({where}: {first['msg']});"
        " was it written by another version of orderflow?"
    )


def _check(path: Path, document: Any) -> None:
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ReportError(f"{path}: not an orderflow results document (schema {SCHEMA})")
    if not isinstance(document.get("run"), dict):
        raise ReportError(f"{path}: has no `run` section")
    styles = document.get("styles")
    if not isinstance(styles, dict) or not styles:
        raise ReportError(f"{path}: has no style results")
    if not all(isinstance(result, dict) for result in styles.values()):
        raise ReportError(f"{path}: a style's result is not an object")
