# consolidation-assets: `make demo` and `make test` do all set-up on a fresh clone.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# The instance settings: PostgreSQL storage whenever DAGSTER_PG_URL is set, SQLite otherwise.
INSTANCE_YAML := $(if $(DAGSTER_PG_URL),dagster.postgres.yaml,dagster.yaml)
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000

.PHONY: install instance demo test test-fast ui image lint format clean bench bench-quality bench-scale bench-search bench-writing bench-runtimes

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# The instance directory with the chosen settings, and the memory store at the current schema.
instance: install
	mkdir -p $(DAGSTER_HOME)
	cp $(INSTANCE_YAML) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/consolidation db upgrade

demo: instance
	$(BIN)/consolidation demo

test: install
	$(BIN)/python -m pytest

# Everything but the tests marked slow (services, browser, crashes, busy day).
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# dagster dev runs from inside DAGSTER_HOME so it reads only the instance's copy of dagster.yaml.
# The sample setup runs a project once 20 new memories arrive (production default: 100).
ui: export CONSOLIDATION_RUN_THRESHOLD ?= 20
ui: instance
	$(BIN)/consolidation load-samples
	cd $(DAGSTER_HOME) && $(abspath $(BIN))/dagster dev -h $(UI_HOST) -p $(UI_PORT) \
		-w $(CURDIR)/workspace.yaml

# The code location's image for the Docker deployment (docs/docker.md); prints its tag last.
# Needs Docker, and debootstrap when python:3.11-slim cannot be pulled.
image:
	PYTHON=$(PYTHON) deploy/docker/build-image.sh

# Benchmarks read the public data in ../shared/data (CONSOLIDATION_SHARED_DATA) and skip what is
# absent; results go to benchmarks/results/ and, by hand, to benchmarks/README.md.
bench: bench-quality bench-scale bench-search bench-writing

bench-quality: install
	$(BIN)/python -m benchmarks.quality

bench-scale: install
	$(BIN)/python -m benchmarks.scale

bench-search: install
	$(BIN)/python -m benchmarks.search

bench-writing: install
	$(BIN)/python -m benchmarks.writing

lint: install
	$(BIN)/ruff check consolidation_assets tests benchmarks scripts
	$(BIN)/ruff format --check consolidation_assets tests benchmarks scripts docs README.md

format: install
	$(BIN)/ruff format consolidation_assets tests benchmarks scripts docs README.md
	$(BIN)/ruff check --fix consolidation_assets tests benchmarks scripts

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) .pytest_cache .ruff_cache
