# Two commands: `make run` serves content/ on http://127.0.0.1:8000, `make test` runs the suite.
# Each sets up its own virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# The bundled content/ is Chinese: feedsvc.toml declares zh-CN (and its title and time zone).
# FEEDSVC_CONFIG or any FEEDSVC_* variable set in the environment still wins.
FEEDSVC_CONFIG ?= feedsvc.toml
run: $(STAMP)
	FEEDSVC_CONFIG=$(FEEDSVC_CONFIG) $(BIN)/feedsvc serve --bind 127.0.0.1:8000

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check feedsvc tests bench
	$(BIN)/mypy feedsvc
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) instance .pytest_cache
