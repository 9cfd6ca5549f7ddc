"""Scenario files: a load, a fault timeline and expectations (docs/scenarios.md)."""

from __future__ import annotations

from harness.scenarios.spec import (
    APP_KINDS,
    BROKER_KINDS,
    PROCESS_KINDS,
    Expectation,
    FaultSpec,
    LoadSpec,
    Scenario,
    ScenarioError,
    StackSpec,
    load_scenario,
    parse_scenario,
)

__all__ = [
    "APP_KINDS",
    "BROKER_KINDS",
    "PROCESS_KINDS",
    "Expectation",
    "FaultSpec",
    "LoadSpec",
    "Scenario",
    "ScenarioError",
    "StackSpec",
    "load_scenario",
    "parse_scenario",
]
