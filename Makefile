# The two commands of the README, and the checks behind them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/shipyard server --data-dir ./shipyard-data

lint: $(STAMP)
	$(BIN)/ruff check app workers shipyard tests bench migrations
	$(BIN)/lint-imports
	$(BIN)/mypy app workers shipyard

# Tests run in random order (pytest-randomly prints the seed in the header): reproduce a run with
# PYTEST_ARGS="--randomly-seed=<seed>", or keep file order with PYTEST_ARGS="-p no:randomly".
test: lint
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) shipyard-data .pytest_cache .mypy_cache .ruff_cache
