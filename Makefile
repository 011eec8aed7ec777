# Two commands do all the set-up: `make demo` runs the product's main job, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck crds docs bench-decisions bench-apiserver bench-simulator bench-faults bench-cli bench-scale clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,docs]'
	touch $(STAMP)

## demo: my-app's rollouts live on the playground (real Envoy, the controller): v2 promoted, v3 rolled back
demo: $(STAMP)
	$(BIN)/canary demo

## test: lint, type-check, and run the whole test suite, which checks the generated CRDs and
## reference pages for drift, validates every example in docs/ and README.md, runs the snippets
## marked runnable, builds the site with `mkdocs build --strict` and checks its links (tests/docs)
test: $(STAMP)
	$(BIN)/ruff check canary tests bench
	$(BIN)/ruff format --check canary tests bench
	$(BIN)/mypy canary
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check canary tests bench
	$(BIN)/ruff format --check canary tests bench

typecheck: $(STAMP)
	$(BIN)/mypy canary

## crds: regenerate crds/ from the pydantic models
crds: $(STAMP)
	$(BIN)/canary crds --output crds

## docs: regenerate docs/reference from the code (a test fails when the pages drift)
docs: $(STAMP)
	$(BIN)/canary docs --output docs/reference

bench-decisions: $(STAMP)
	$(BIN)/python -m bench.decisions

bench-apiserver: $(STAMP)
	$(BIN)/python -m bench.apiserver

bench-simulator: $(STAMP)
	$(BIN)/python -m bench.simulator

bench-faults: $(STAMP)
	$(BIN)/python -m bench.faults

bench-cli: $(STAMP)
	$(BIN)/python -m bench.cli

bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
