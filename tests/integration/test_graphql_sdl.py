"""The checked-in SDL files are the schemas the code serves; regenerate them with
`.venv/bin/python scripts/export_graphql_schema.py` after changing a schema."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import strawberry

from services.inventory.api import graphql as inventory
from services.kernel.graphql.schema import sdl
from services.order.api import graphql as order
from services.payment.api import graphql as payment

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "export_graphql_schema.py"
SCHEMAS: dict[str, Callable[[], strawberry.Schema]] = {
    "order": order.create_schema,
    "inventory": inventory.create_schema,
    "payment": payment.create_schema,
}


@pytest.mark.parametrize("service", sorted(SCHEMAS))
def test_the_checked_in_sdl_matches_the_code(service: str) -> None:
    checked_in = ROOT / "services" / service / "api" / f"{service}.graphql"
    assert checked_in.read_text() == sdl(SCHEMAS[service]()), (
        f"{checked_in.relative_to(ROOT)} drifted from the code; "
        f"run .venv/bin/python {SCRIPT.relative_to(ROOT)}"
    )


def test_the_export_command_agrees() -> None:
    checked = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert (checked.returncode, checked.stdout) == (0, ""), checked.stdout + checked.stderr


def test_the_sdl_shows_the_result_unions() -> None:
    text = (ROOT / "services" / "order" / "api" / "order.graphql").read_text()
    assert (
        "union PlaceOrderResult = Order | UnknownSku | InvalidInput | IdempotencyKeyReused" in text
    )
    assert "orderUpdates(orderId: ID!): Order!" in text
