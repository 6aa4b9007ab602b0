# The two commands of the README, and the checks behind them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CKSUM := $(shell cksum < pyproject.toml | cut -d' ' -f1)
# `make run` needs only the server's packages; `make test` adds the test tools (a superset).
RUN_STAMP := $(VENV)/.installed-run-$(CKSUM)
TEST_STAMP := $(VENV)/.installed-test-$(CKSUM)

.PHONY: run test lint typecheck install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.installed-run-*
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(TEST_STAMP) $(RUN_STAMP)

install: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(BIN)/shipyard server --data-dir ./shipyard-data

lint: $(TEST_STAMP)
	$(BIN)/ruff check app workers shipyard tests bench migrations
	$(BIN)/lint-imports
	$(BIN)/mypy app workers shipyard

# Tests run in random order (pytest-randomly prints the seed in the header): reproduce a run with
# PYTEST_ARGS="--randomly-seed=<seed>", or keep file order with PYTEST_ARGS="-p no:randomly".
test: lint
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) shipyard-data .pytest_cache .mypy_cache .ruff_cache
