# The two set-up commands: `make demo` and `make test`. Each creates .venv (Python 3.12,
# chosen by .python-version through pyenv) from pyproject.toml when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# pip install --no-compile: byte-compiling every installed module took 49 of the install's
# 70 s on 2 cores, most of it for modules no command here imports. Python writes the bytecode
# of what it does import on first use instead (~6 s, once), so it must be allowed to.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-slow lint docs notebooks example-data clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), f"Python >= 3.12 needed, got {sys.version.split()[0]}: install 3.12 (pyenv install 3.12) or run make PYTHON=python3.12"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bayes-scaling demo --output demo-output

# The notebooks run too, in fast mode (fewer draws), in a test process so that their fits
# reuse its compiled models (tests/test_notebooks.py); any cell that raises fails the suite.
# Two test processes, each taking whole files (whose tests share fits and compiled models;
# files that compile the same models go together, tests/conftest.py): on the 2-core CI
# machine 337 s of pytest against 441 s in one (docs/records.md, "Test processes").
# Real tables (mikami2021, alabdulmohsin2022) are read from the offline folder beside the
# clone when it exists, as CI has it; else fetched on first use. Tests that need one are
# skipped, saying why, when neither works.
test test-slow notebooks: export BAYES_SCALING_DATA_DIR ?= $(wildcard $(abspath ../shared/data))

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The documentation site: docs/*.md, the API from the docstrings, the CLI from its parser and
# the notebooks with their stored outputs (not executed). make test builds it too
# (tests/test_docs.py), warnings as errors.
docs: $(STAMP)
	$(BIN)/python -m sphinx -b html -W --keep-going docs docs/_build/html
	@echo "open docs/_build/html/index.html"

notebooks: $(STAMP)
	$(BIN)/python scripts/build_notebooks.py

example-data: $(STAMP)
	$(BIN)/python scripts/make_example_data.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache docs/_build docs/notebooks
