# The two commands a newcomer needs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck unit bench sample clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,compat]'
	touch $(STAMP)

## Start the API server on 127.0.0.1:9292 (SQLite and images under ./data).
serve: $(STAMP)
	$(BIN)/spyglass api --bind-host 127.0.0.1 --bind-port 9292 --data-dir data

## Lint, type-check and run the whole test suite, on every core (TEST_WORKERS=0: one process).
TEST_WORKERS ?= auto
test: $(STAMP) lint typecheck
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src tests bench

## Rewrite the sample configuration files in etc/ from the option declarations.
sample: $(STAMP)
	for service in $$($(BIN)/python -c 'from spyglass.config.sample import SERVICES; print(*SERVICES)'); do \
	    $(BIN)/spyglass config sample --service $$service --output-file etc/glance-$$service.conf; \
	done

## Spyglass and upstream Glance side by side (about 14 min; --quick: 4 min); writes docs/performance.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) data .bench
