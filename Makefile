# The two commands of the README. Both bootstrap everything they need, idempotently.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test

setup:
	@bash scripts/setup.sh

# Interpolate the bundled sample clip (25 fps) to 50 fps and encode it with x265.
demo: setup
	@bash scripts/demo.sh

test: setup
	@$(PY) -m pytest -q
