"""Reading a YAML document field by field while keeping every node's line, so that any mistake
can be reported as `file:line: field.path: problem` (the scenario loader, spec.py, is built on
these). The document is composed, not loaded: nodes keep their marks, and each scalar is
constructed on its own with PyYAML's safe constructor.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.bench.options import duration

_ZERO = re.compile(r"^0+[sm]?$")


class ScenarioError(ValueError):
    """A scenario file that cannot be run: `file:line: field: problem`."""

    def __init__(self, path: Path, line: int | None, field: str, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")
        self.path, self.line, self.field, self.problem = path, line, field, problem


# --- walking the nodes -----------------------------------------------------------------------


@dataclass(frozen=True)
class At:
    """A node, the field path that reached it and the key node that named it (if any)."""

    node: yaml.Node
    field: str
    path: Path
    key: yaml.Node | None = None

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    @property
    def entry_line(self) -> int:
        """Where the field is introduced: its key's line (a list item: its own)."""
        return int((self.key or self.node).start_mark.line) + 1

    def error(self, problem: str, *, line: int | None = None) -> ScenarioError:
        return ScenarioError(self.path, line or self.line, self.field, problem)

    def child(self, name: str, node: yaml.Node, key: yaml.Node | None = None) -> At:
        return At(node, f"{self.field}.{name}" if self.field else name, self.path, key)

    def items(self) -> list[At]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.error(f"must be a list, not {shown(self)}")
        return [At(n, f"{self.field}[{i}]", self.path) for i, n in enumerate(self.node.value)]

    def fields(self, known: Collection[str] | None = None) -> dict[str, At]:
        """The mapping's fields; a repeated key, or one not in `known` (if given), is an error."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error(f"must be a mapping of fields, not {shown(self)}")
        found: dict[str, At] = {}
        for key, value in self.node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                raise self.error(
                    "merge keys (<<) are not read here: write the fields out",
                    line=key.start_mark.line + 1,
                )
            name = scalar(self, key)
            if not isinstance(name, str):
                line = key.start_mark.line + 1
                raise self.error(
                    f"field names are text, not {shown(At(key, '', self.path))}", line=line
                )
            field = self.child(name, value, key)
            if name in found:
                first = found[name].entry_line
                raise field.error(f"given twice (first on line {first})", line=field.entry_line)
            found[name] = field
        if known is not None:
            reject_unknown(found, known)
        return found

    def require(self, fields: Mapping[str, At], name: str, why: str = "") -> At:
        """The field, or an error on the line that introduces this mapping."""
        if name not in fields:
            raise self.missing(name, why)
        return fields[name]

    def missing(self, name: str, why: str = "") -> ScenarioError:
        """This mapping lacks the field `name`: said on the line that introduces it."""
        return self.child(name, self.node).error(f"required{why}", line=self.entry_line)


def reject_unknown(fields: Mapping[str, At], known: Collection[str], of: str = "") -> None:
    for name, field in fields.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problem = f"unknown field{of}{hint}; known here: {', '.join(known)}"
            raise field.error(problem, line=field.entry_line)


def scalar(at: At, node: yaml.Node | None = None) -> object:
    """A scalar node's value (None for a list or a mapping: no value check accepts None)."""
    node = at.node if node is None else node
    if not isinstance(node, yaml.ScalarNode):
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as error:
        raise at.error(f"not a value this format reads: {error.problem}") from error


def shown(at: At) -> str:
    """The value as the message shows it after "not"."""
    if isinstance(at.node, yaml.MappingNode):
        return "a mapping"
    if isinstance(at.node, yaml.SequenceNode):
        return "a list"
    value = scalar(at)
    if value is None:
        return "an empty value" if at.node.value == "" else "null"
    return repr(value)


# --- values ----------------------------------------------------------------------------------


def read_text(at: At) -> str:
    value = scalar(at)
    if not isinstance(value, str) or not value.strip():
        raise at.error(f"must be non-empty text, not {shown(at)}")
    return value.strip()


def read_number(at: At, wanted: str, ok: Callable[[float], bool]) -> float:
    value = scalar(at)
    if (
        isinstance(value, bool)  # YAML's true is a Python int: not a number here
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not ok(float(value))
    ):
        raise at.error(f"must be {wanted}, not {shown(at)}")
    return float(value)


def read_count(at: At) -> int:
    value = scalar(at)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise at.error(f"must be a whole number, at least 1, not {shown(at)}")
    return value


def read_seconds(at: At, *, zero: bool = False) -> float:
    """Whole seconds, 30, '30s' or '2m', read as `orderflow bench` reads them; 0 only if `zero`."""
    value = scalar(at)
    if (
        zero
        and value is not False
        and (value == 0 or (isinstance(value, str) and _ZERO.match(value)))
    ):
        return 0.0
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return duration(str(value))
        except (ValueError, argparse.ArgumentTypeError):
            pass
    least = "0 or more" if zero else "above 0"
    raise at.error(f"must be whole seconds {least}, as 30, 30s or 2m, not {shown(at)}")


def read_choice(at: At, choices: Collection[str], what: str) -> str:
    value = scalar(at)
    if isinstance(value, str) and value in choices:
        return value
    close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise at.error(f"unknown {what} {shown(at)}{hint}; choose from {', '.join(choices)}")


def read_choices(at: At, choices: Collection[str], what: str) -> tuple[str, ...]:
    chosen: list[str] = []
    if not (items := at.items()):
        raise at.error(f"must name at least one {what}")
    for item in items:
        value = read_choice(item, choices, what)
        if value in chosen:
            raise item.error(f"{value!r} is listed twice")
        chosen.append(value)
    return tuple(chosen)
