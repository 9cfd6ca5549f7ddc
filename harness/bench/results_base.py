"""The pieces every section of results.json is made of (results_model.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


class Section(BaseModel):
    """A part of results.json: strict as its JSON schema (a number is not a string), no field
    it does not name, and its attribute docstrings published as the schema's descriptions."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )


# The names harness/vocabulary.py's RUNNABLE lists (a test checks they agree): a Literal, for
# the schema.
StyleName = Annotated[
    Literal["rest", "rest-sse", "grpc", "graphql", "websocket", "broker", "broker-amqp"],
    Field(
        description="One of the five integration styles, or a variant of one measured beside"
        " it: rest-sse (REST's saga answered 202, the outcome from the status stream) and"
        " broker-amqp (the order.place command published over AMQP; broker itself places"
        " through the asynchronous HTTP front)."
    ),
]
Count = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1, description="A share between 0 and 1.")]
PerSecond = Annotated[
    float, Field(ge=0, description="Events per second of the phase's planned duration.")
]
# Milliseconds, or null when there was no sample to measure.
Ms = Annotated[float, Field(ge=0)] | None
# A field added after the first results were written: absent from those, never null, so the
# schema does not offer null for it (`field: T | Absent = None`).
Absent = SkipJsonSchema[None]
