"""Export each service's GraphQL schema to its SDL file, services/<svc>/api/<svc>.graphql.

Run it with the project's interpreter after changing a schema:
`.venv/bin/python scripts/export_graphql_schema.py`. `--check` writes nothing and exits 1 if a
file differs from the code (tests/integration/test_graphql_sdl.py fails the same way).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import strawberry

from services.inventory.api import graphql as inventory
from services.kernel.graphql.schema import sdl
from services.order.api import graphql as order
from services.payment.api import graphql as payment

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS: dict[str, Callable[[], strawberry.Schema]] = {
    "order": order.create_schema,
    "inventory": inventory.create_schema,
    "payment": payment.create_schema,
}


def sdl_path(service: str) -> Path:
    return ROOT / "services" / service / "api" / f"{service}.graphql"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    check: bool = parser.parse_args(argv).check
    stale = []
    for service, create_schema in SCHEMAS.items():
        path, text = sdl_path(service), sdl(create_schema())
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not check:
            path.write_text(text)
    verb = "differs from the code" if check else "written"
    for path in stale:
        print(f"{path}: {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
