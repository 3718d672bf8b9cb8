# Developer entry points; each is a thin wrapper around one documented command.
.PHONY: setup test test-fast lint

setup:  ## create .venv/ from the pinned lock file (idempotent)
	bash scripts/setup.sh

test:  ## the full test suite, as CI runs it
	.venv/bin/python -m pytest

test-fast:  ## everything but the end-to-end pipeline runs
	.venv/bin/python -m pytest -m "not e2e"

lint:
	.venv/bin/ruff check .
