# consolidation-assets: `make demo` and `make test` do all set-up on a fresh clone.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000

.PHONY: install demo test ui lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/consolidation demo

test: install
	$(BIN)/python -m pytest

# dagster dev runs from inside DAGSTER_HOME so it reads only the instance's copy of dagster.yaml.
# The sample setup runs a project once 20 new memories arrive (production default: 100).
ui: export CONSOLIDATION_RUN_THRESHOLD ?= 20
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/consolidation load-samples
	cd $(DAGSTER_HOME) && $(abspath $(BIN))/dagster dev -h $(UI_HOST) -p $(UI_PORT) \
		-w $(CURDIR)/workspace.yaml

lint: install
	$(BIN)/ruff check consolidation_assets tests benchmarks scripts
	$(BIN)/ruff format --check consolidation_assets tests benchmarks scripts

format: install
	$(BIN)/ruff format consolidation_assets tests benchmarks scripts
	$(BIN)/ruff check --fix consolidation_assets tests benchmarks scripts

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) .pytest_cache .ruff_cache
