# The two commands of the README. Both bootstrap everything they need, idempotently.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint test-fast

setup:
	@bash scripts/setup.sh

# Interpolate the bundled sample clip (25 fps) to 60 fps into out/demo_60fps.mkv and draw out/demo_preview.png.
demo: setup
	@bash scripts/demo.sh

# The gate (lint, format, types), then the whole suite. CI runs this (.ci/run).
test: setup lint
	@$(PY) -m pytest -q

lint:
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy

# Everything but the tests marked slow (under a minute).
test-fast: setup lint
	@$(PY) -m pytest -q -m "not slow"
