"""`python -m harness.cli ...` is the `orderflow` command."""

from __future__ import annotations

from harness.cli.main import main

raise SystemExit(main())
