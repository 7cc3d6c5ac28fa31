# The two commands of the README. Both bootstrap everything they need, idempotently.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test

setup:
	@bash scripts/setup.sh

# Interpolate the bundled sample clip (25 fps) to 60 fps into out/demo_60fps.mkv and draw out/demo_preview.png.
demo: setup
	@bash scripts/demo.sh

test: setup
	@$(PY) -m pytest -q
