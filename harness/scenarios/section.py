"""A pydantic model read from a YAML node (nodes.py): each field from its node by a reader,
so a mistake is still a `file:line: field: problem`; the scenario file's sections (spec.py) are
such models."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationInfo,
    model_validator,
)

from harness.scenarios.nodes import At, ScenarioError, read_seconds


@dataclass(frozen=True)
class Missing:
    """A required field the mapping at `at` lacks."""

    at: At
    key: str

    def error(self) -> ScenarioError:
        return self.at.missing(self.key)


def read_by(reader: Callable[[At], object]) -> BeforeValidator:
    """A field read from its node by a nodes.py reader (its errors name the file and line); a
    value given in code passes as it is."""

    def read(value: object) -> object:
        if isinstance(value, Missing):
            raise value.error()
        return reader(value) if isinstance(value, At) else value

    return BeforeValidator(read)


def seconds(zero: bool = False) -> BeforeValidator:
    return read_by(lambda at: read_seconds(at, zero=zero))


class Section(BaseModel):
    """A mapping of a YAML file. Read from a node, its fields are checked against the file's
    keys (KEYS: file key -> field) before each field is read, and its rules across fields after
    (`_check`, with the nodes at hand for their lines)."""

    model_config = ConfigDict(frozen=True)
    KEYS: ClassVar[Mapping[str, str]]

    @model_validator(mode="wrap")
    @classmethod
    def _from_node(
        cls, data: object, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        if isinstance(data, Missing):
            raise data.error()
        if not isinstance(data, At):
            return handler(data)
        fields = cls._fields(data, info)
        section = handler(cls._values(data, fields, info))
        section._check(data, fields, info)
        return section

    @classmethod
    def _fields(cls, at: At, info: ValidationInfo) -> dict[str, At]:
        return at.fields(tuple(cls.KEYS))

    @classmethod
    def _values(cls, at: At, fields: Mapping[str, At], info: ValidationInfo) -> dict[str, object]:
        """Each field's node; a required one that is missing, as a Missing that says so where
        the field is read (so the mistakes are found in the file's order)."""
        return {
            name: fields[key] if key in fields else Missing(at, key)
            for key, name in cls.KEYS.items()
            if key in fields or cls.model_fields[name].is_required()
        }

    def _check(self, at: At, fields: Mapping[str, At], info: ValidationInfo) -> None:
        """The section's rules across its fields."""
