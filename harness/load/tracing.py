"""The load generator's side of an order's trace: the Locust user's request is its root span.

Off unless the Locust process's environment asks for traces, exactly as a service's
(services/kernel/tracing.py: the standard `OTEL_*` variables, or `ORDERFLOW_TRACES_FILE`, where
`{service}` becomes `locust-<pid>` so that each Locust process writes a file of its own). When
on, each order's task is a CLIENT span, `<style> place_order`, with no parent: it is the root
of the order's trace, so the sampler's decision is taken there and the services' parent-based
samplers follow it. Each style's request carries it as its protocol does (the W3C context from
`tracing.carrier()`): an HTTP header (REST, GraphQL), gRPC metadata, JSON-RPC's `_meta`, and a
command's CloudEvents `traceparent` (`new_event` writes that one itself).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from harness.traces.spans import ORDER_KEYS, STYLE_KEY
from services.kernel import tracing

SERVICE: Final = "locust"
ORDER: Final = ORDER_KEYS[0]  # where harness/traces reads an order's id from
META: Final = "_meta"  # JSON-RPC's reserved member for protocol metadata (docs/protocols.md)


def configure(environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Trace this Locust process if its environment asks for it (None: off)."""
    return tracing.configure(SERVICE, {**environ, **own_file(environ)})


def own_file(environ: Mapping[str, str]) -> dict[str, str]:
    """The traces file of this process: `{service}` becomes `locust-<pid>`, as the Locust
    processes of one run would otherwise write into one file at once."""
    path = environ.get(tracing.TRACES_FILE, "")
    if not path:
        return {}
    return {tracing.TRACES_FILE: path.replace("{service}", f"{SERVICE}-{os.getpid()}")}


class OrderRequest:
    """The root span of one order, told the order's id once the answer names it."""

    def __init__(self, span: object) -> None:
        self._span = span

    def is_for(self, order_id: str) -> None:
        if isinstance(self._span, trace.Span):
            self._span.set_attribute(ORDER, order_id)


@contextlib.contextmanager
def order_request(style: str) -> Iterator[OrderRequest]:
    """The client's span of placing one order and seeing it finish, current inside the block
    (a no-op when tracing is off)."""
    with tracing.span(
        f"{style} place_order",
        SpanKind.CLIENT,
        parent_context=tracing.root(),
        attributes={STYLE_KEY: style},
    ) as span:
        yield OrderRequest(span)


def headers() -> dict[str, str]:
    """The current trace context as HTTP headers (none when off or outside an order)."""
    return tracing.carrier()


def grpc_metadata() -> tuple[tuple[str, str], ...] | None:
    """The current trace context as gRPC metadata (None: nothing to send)."""
    return tuple(tracing.carrier().items()) or None


def rpc_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-RPC params with the current trace context in `_meta` (unchanged when there is none)."""
    carried = tracing.carrier()
    return {**params, META: carried} if carried else dict(params)
