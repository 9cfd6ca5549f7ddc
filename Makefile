# Two commands set everything up on a fresh machine (Python 3.11 and make are all it needs):
#   make demo   start the stack, place real orders, show what happened
#   make test   lint, type-check and run every test (what CI runs)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration e2e compose-test up protos lock clean browser \
	system-packages

demo: $(STAMP)
	$(BIN)/orderflow demo

test: lint typecheck system-packages
	$(BIN)/pytest

# lint-imports checks the architecture's import rules ([tool.importlinter] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit integration e2e: $(STAMP)
	$(BIN)/pytest tests/$@

e2e: system-packages

# compose.yaml for real (part of `make test` too): starts Debian's dockerd when no engine runs
# (installing it first), builds the images, `docker compose up`, checks, `down`; then the same
# file on a single-node Docker Swarm (`docker stack deploy`); docs/compose.md.
compose-test: $(STAMP)
	$(BIN)/pytest tests/e2e/test_compose.py tests/e2e/test_compose_swarm.py

# What the tests need from Debian, installed only when missing (as root on CI, with sudo
# elsewhere), so nothing but apt-get fetches it: Chromium, in which the report's end-to-end test
# renders report.html (a screenshot and the DOM); HAProxy, the proxy in front of the replicas
# (`orderflow up --replicas N`, tests/e2e/test_replicas.py).
SYSTEM_PACKAGES := /usr/bin/chromium:chromium /usr/sbin/haproxy:haproxy

system-packages:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do \
		test -x "$${entry%%:*}" || missing="$$missing $${entry#*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y --no-install-recommends $$missing; fi

# The name it had when Chromium was all it installed.
browser: system-packages

up: $(STAMP)
	$(BIN)/orderflow up

# Regenerate services/_generated from protos/ (a test fails while it is stale).
protos: $(STAMP)
	$(BIN)/python scripts/generate_protos.py

# The environment, from the lock file only (hashes checked), rebuilt when the lock changes.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--no-deps --no-build-isolation --editable .
	touch $(STAMP)

# Re-resolve the lock after changing dependencies in pyproject.toml (needs uv).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements.lock

clean:
	rm -rf $(VENV) .orderflow .mypy_cache .ruff_cache .pytest_cache
