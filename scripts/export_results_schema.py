"""Export results.json's JSON schema, generated from its model, to docs/results.schema.json.

Run it with the project's interpreter after changing harness/bench/results_model.py:
`.venv/bin/python scripts/export_results_schema.py`. `--check` writes nothing and exits 1 if the
file differs from the model (tests/unit/test_results_schema.py fails the same way).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.bench.results_model import schema_text

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "docs" / "results.schema.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report a file that differs")
    check: bool = parser.parse_args(argv).check
    text = schema_text()
    if SCHEMA_PATH.exists() and SCHEMA_PATH.read_text() == text:
        return 0
    if not check:
        SCHEMA_PATH.write_text(text)
    print(f"{SCHEMA_PATH.relative_to(ROOT)}: {'differs from the model' if check else 'written'}")
    return 1 if check else 0


if __name__ == "__main__":
    sys.exit(main())
