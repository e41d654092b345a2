# `make run` starts the whole platform; `make test` runs every check; `make fuzz` fuzzes the API
# longer; `make load` puts shoppers on the running platform (ARGS="--users 20 --run-time 5m").
# Each sets up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_DEV  := $(VENV)/.installed-dev
STAMP_LOAD := $(VENV)/.installed-load
ARGS ?=

.PHONY: run test lint typecheck format bench clean load fuzz screenshots chaos

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN) $(STAMP_LOAD)

$(STAMP_LOAD): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[load]'
	touch $@

run: $(STAMP_RUN)
	$(BIN)/mercato up $(ARGS)

load: $(STAMP_LOAD)
	$(BIN)/mercato load $(ARGS)

# Every fault experiment once, one after another (about 3 minutes each); figures in
# .mercato-chaos/chaos/results.md, for docs/RESILIENCE.md.
chaos: $(STAMP_LOAD)
	for name in kill-each postgres-freeze postgres-restart nats-down s3-down graceful-restart-order; do \
		$(BIN)/mercato chaos $$name $(ARGS) || status=1; done; exit $${status:-0}

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(ARGS)

# The long fuzzing profile (`make test` runs 4 examples per operation); figures in
# docs/RESILIENCE.md. FUZZ_EXAMPLES=500 make fuzz for a longer one.
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP_DEV)
	MERCATO_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/security/test_fuzzing.py \
		-s -p no:logging -o timeout=7200 $(ARGS)

# The storefront's and the admin console's pages at desktop and phone width, into
# docs/screenshots/ (a seeded platform of its own and Debian's chromium, installed if missing).
screenshots: $(STAMP_DEV)
	$(BIN)/python -m tests.e2e.web_screenshots docs/screenshots

format: $(STAMP_DEV)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .mercato .pytest_cache .mypy_cache .ruff_cache
