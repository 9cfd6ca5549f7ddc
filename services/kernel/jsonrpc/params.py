"""Reading a request's params: shapes and types only (the domain checks meaning and limits).

Params are by name. Types are strict, as in the REST schemas: "2" is not a quantity and true is
not a number. Unknown members are refused so that a misspelt `idempotency_key` cannot silently
turn a safe retry into a second order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from services.kernel import tracing
from services.kernel.contracts import Line
from services.kernel.jsonrpc.errors import invalid_params

META: Final = "_meta"  # reserved member: protocol metadata, not an argument of the method
# What `_meta` may hold: the correlation id and the caller's W3C trace context.
META_MEMBERS: Final = ("correlation_id", tracing.TRACEPARENT, tracing.TRACESTATE)


@dataclass(frozen=True)
class Meta:
    """The protocol metadata a request carried in `params._meta`."""

    correlation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None


class Params:
    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    @classmethod
    def of(cls, raw: object) -> tuple[Params, Meta]:
        """The method's arguments, and what the caller put in `_meta`."""
        if not isinstance(raw, dict):
            raise invalid_params("params must be an object (arguments by name)", field="params")
        arguments = {key: value for key, value in raw.items() if key != META}
        return cls(arguments), _meta(raw.get(META, {}))

    def allow(self, *names: str) -> Params:
        if unknown := sorted(set(self._raw) - set(names)):
            field = unknown[0]
            raise invalid_params(f"unknown member(s) in params: {', '.join(unknown)}", field=field)
        return self

    def text(self, name: str) -> str:
        return _text(self._required(name), name)

    def optional_text(self, name: str) -> str | None:
        value = self._raw.get(name)
        return None if value is None else _text(value, name)

    def integer(self, name: str) -> int:
        return _integer(self._required(name), name)

    def lines(self, name: str) -> tuple[Line, ...]:
        value = self._required(name)
        if not isinstance(value, list):
            raise invalid_params(f"{name} must be an array", field=name)
        return tuple(_line(item, f"{name}[{index}]") for index, item in enumerate(value))

    def _required(self, name: str) -> object:
        if name not in self._raw:
            raise invalid_params(f"params.{name} is required", field=name)
        return self._raw[name]


def _line(item: object, path: str) -> Line:
    if not isinstance(item, dict):
        raise invalid_params(f"{path} must be an object", field=path)
    if unknown := sorted(set(item) - {"sku", "quantity"}):
        raise invalid_params(f"unknown member(s) in {path}: {', '.join(unknown)}", field=path)
    for member in ("sku", "quantity"):
        if member not in item:
            raise invalid_params(f"{path}.{member} is required", field=f"{path}.{member}")
    return Line(_text(item["sku"], f"{path}.sku"), _integer(item["quantity"], f"{path}.quantity"))


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise invalid_params(f"{field} must be a string", field=field)
    return value


def _integer(value: object, field: str) -> int:
    if type(value) is not int:  # bool is an int subclass; true is not a quantity
        raise invalid_params(f"{field} must be an integer", field=field)
    return value


def _meta(meta: object) -> Meta:
    if not isinstance(meta, dict) or set(meta) - set(META_MEMBERS):
        names = ", ".join(f'"{name}"' for name in META_MEMBERS)
        raise invalid_params(f"_meta may only hold {names}", field=META)
    value = meta.get("correlation_id")
    if value is not None and not isinstance(value, str):
        raise invalid_params(
            "_meta.correlation_id must be a string", field=f"{META}.correlation_id"
        )
    for name in (tracing.TRACEPARENT, tracing.TRACESTATE):
        if meta.get(name) is not None and not tracing.valid_header(name, meta[name]):
            raise invalid_params(
                f"_meta.{name} must be a W3C {name} string", field=f"{META}.{name}"
            )
    return Meta(value, meta.get(tracing.TRACEPARENT), meta.get(tracing.TRACESTATE))
