# Two entry points a fresh machine needs; both run the idempotent set-up first (a second run takes seconds).
.PHONY: setup demo test lint
PY := .venv/bin/python

setup:
	@./scripts/setup.sh

demo: setup
	.venv/bin/memo demo --out demo-out --force

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

test: lint
	OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 $(PY) -m pytest
