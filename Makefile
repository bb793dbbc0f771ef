# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint venv clean

$(STAMP): pyproject.toml setup.py clients/sync/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The server requires the sync client by its path (setup.py), which installs a copy; for
	# development it is replaced by an editable install, last, so nothing reinstalls the copy.
	$(BIN)/python -m pip install --quiet --no-deps -e ./clients/sync
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/jointpool db upgrade
	$(BIN)/jointpool up

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
