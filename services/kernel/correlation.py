"""The correlation id of the work in progress, carried end to end.

A context variable lets every outbound call and log line pick it up without threading it through
every function signature.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Final

HEADER: Final = "X-Correlation-ID"
MAX_LENGTH: Final = 128

_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_supplied: ContextVar[bool] = ContextVar("correlation_id_supplied", default=False)


def current() -> str | None:
    return _current.get()


def set_current(value: str) -> None:
    _current.set(value)


def begin(raw: str | None) -> str:
    """Start the work of one inbound request: adopt the caller's id or make one up."""
    value = accept(raw)
    _current.set(value)
    _supplied.set(value == raw)
    return value


def bind_order(order_id: str) -> None:
    """Once an order exists its id is the correlation id, unless the caller chose one."""
    if not _supplied.get():
        _current.set(order_id)
        _supplied.set(True)


def new_id() -> str:
    return str(uuid.uuid4())


def accept(raw: str | None) -> str:
    """Use a caller's id when it is sane; else start a new one (never trust unbounded input)."""
    if raw and len(raw) <= MAX_LENGTH and raw.isprintable():
        return raw
    return new_id()
