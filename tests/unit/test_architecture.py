"""The architecture's import rules are import-linter contracts ([tool.importlinter] in
pyproject.toml, checked by `lint-imports` in `make lint`); this checks that they name every service,
so a new service cannot slip past the rules that list services by name."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["name"]: contract for contract in config["contracts"]}


def services() -> set[str]:
    return {f"services.{p.parent.name}" for p in (ROOT / "services").glob("*/domain.py")}


def test_the_checks_see_every_service() -> None:
    assert services() == {
        "services.order",
        "services.inventory",
        "services.payment",
        "services.notification",
    }
    found = contracts()
    assert set(found["No service imports another"]["modules"]) == services()
    for name in (
        "The kernel imports no service",
        "The harness reaches services only through the kernel and the generated contracts",
    ):
        assert set(found[name]["forbidden_modules"]) == services(), name
