"""Tracing on, into memory, for the tests that look at spans.

The OpenTelemetry API takes one tracer provider per process: it is installed once, with one
exporter every test shares, and tracing is turned off again after each test, so that the other
tests run as the services do by default (off)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.kernel import tracing

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        tracing.install(provider)
    tracing.turn_on()
    _EXPORTER.clear()
    yield _EXPORTER
    tracing.turn_off()
