# Two commands matter: `make demo` (offline plan of the example stacks) and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo needs only the SDK and its CLI (requirements.txt), not the test set.
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: demo test test-fast lint clean

$(BIN)/python:
	$(shell command -v $(PY) >/dev/null 2>&1 && echo $(PY) || echo python3) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(DEMO_STAMP): $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/mlinfra plan --stack staging
	$(BIN)/mlinfra plan --stack prod
	$(BIN)/mlinfra plan --stack dev

test: $(STAMP)
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not tools" -q; rc=$$?; [ $$rc -eq 5 ] && exit 1; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check mlinfra tests examples
	$(BIN)/ruff format --check mlinfra tests examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mlinfra .pytest_cache
