"""The core/edge split, checked: domains stay pure and adapters go through the handlers."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
PURE_KERNEL = {"services.kernel.errors", "services.kernel.contracts"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "domain", sorted(SERVICES.glob("*/domain.py")), ids=lambda p: p.parent.name
)
def test_a_domain_imports_only_the_standard_library_and_pure_kernel(domain: Path) -> None:
    foreign = {
        module
        for module in imported_modules(domain)
        if module.split(".")[0] not in sys.stdlib_module_names
        and module != "__future__"
        and module not in PURE_KERNEL
        and not module.startswith(f"services.{domain.parent.name}.domain")
    }
    assert not foreign, f"{domain.parent.name}/domain.py imports {sorted(foreign)}"


@pytest.mark.parametrize(
    "adapter", sorted(SERVICES.glob("*/api/*.py")), ids=lambda p: f"{p.parents[1].name}/{p.name}"
)
def test_an_adapter_reaches_the_domain_through_handlers_not_the_store(adapter: Path) -> None:
    stores = {m for m in imported_modules(adapter) if m.endswith(".store")}
    allowed = {"metrics.py"}  # a scrape-time collector reads the store, it changes nothing
    assert adapter.name in allowed or not stores, f"{adapter} imports {sorted(stores)}"


def test_the_checks_see_every_service() -> None:
    assert {p.parent.name for p in SERVICES.glob("*/domain.py")} == {
        "order",
        "inventory",
        "payment",
        "notification",
    }
