# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE := examples/transactions

.PHONY: setup demo test lint unit clean bench

$(BIN)/lambdapack: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/lambdapack

# Build every function of the bundled example project and print their hashes.
demo: setup
	$(BIN)/lambdapack build -C $(EXAMPLE)
	@echo "manifest: $(EXAMPLE)/dist/lambdapack-manifest.json"

lint: setup
	$(BIN)/ruff check lambdapack tests bench
	$(BIN)/ruff format --check lambdapack tests bench
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: lint unit

clean:
	rm -rf $(VENV) $(EXAMPLE)/dist .pytest_cache .mypy_cache .ruff_cache

# lambdapack against pip and uv on this machine (takes 10-20 minutes; needs PyPI).
bench: setup
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python bench/run.py
