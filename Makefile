# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE := examples/transactions
NODE_EXAMPLE := examples/events

.PHONY: setup demo test test-offline coverage lint unit clean bench readme-example

$(BIN)/lambdapack: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The pinned esbuild's tarball for this machine, which the offline tests' loopback registry serves.
ESBUILD_STAMP := .cache/esbuild/.fetched-0.28.2
$(ESBUILD_STAMP): $(BIN)/lambdapack lambdapack/node/esbuild.py
	$(BIN)/python scripts/fetch_esbuild.py
	mkdir -p $(dir $@) && touch $@

setup: $(BIN)/lambdapack $(ESBUILD_STAMP)

# Build every function of the bundled example project and print their hashes.
demo: setup
	$(BIN)/lambdapack build -C $(EXAMPLE)
	$(BIN)/lambdapack build -C $(NODE_EXAMPLE)
	@echo "manifests: $(EXAMPLE)/dist/lambdapack-manifest.json $(NODE_EXAMPLE)/dist/lambdapack-manifest.json"

lint: setup
	$(BIN)/ruff check lambdapack tests bench scripts
	$(BIN)/ruff format --check lambdapack tests bench scripts
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: lint unit

# The offline tier: every test not marked `network`, `engine` or `slow` (no network, no Docker Engine;
# under a minute on two cores; the two offline `slow` tests, a 65,600-entry zip64 archive and a 1 GiB
# zip bomb, run in `make test`). One pytest worker per core (more workers only contend: npm, uv, esbuild and
# the interpreters the tests start keep the cores busy), each module's tests in one worker (`--dist loadscope`: a module's
# fixtures, such as a project built once for its tests, are made once). `make coverage` runs the same tests with the line coverage of
# lambdapack/ (also of the `python -m lambdapack` processes the tests start, see .coveragerc;
# tracing makes them about a quarter slower). `make test` runs everything, in one process; it is
# CI's command.
OFFLINE := -m "not network and not engine and not slow" --dist loadscope -n $(shell nproc 2>/dev/null || echo 1)
test-offline: setup
	$(BIN)/pytest $(OFFLINE) --no-cov

coverage: setup
	$(BIN)/pytest $(OFFLINE) --cov=lambdapack --cov-report=term

clean:
	rm -rf $(VENV) $(EXAMPLE)/dist $(NODE_EXAMPLE)/dist .pytest_cache .mypy_cache .ruff_cache .coverage

# lambdapack against pip and uv on this machine (takes 10-20 minutes; needs PyPI).
bench: setup
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python bench/run.py

# Rewrite the README's `make demo` output and manifest example from a real build (needs PyPI).
readme-example: setup
	$(BIN)/python scripts/readme_example.py
