# Two commands do all the set-up on a machine that has only python3:
#   make bench  the benchmark on the embedded defaults; the report lands in reports/latest/
#   make test   the tests, plus ruff and mypy
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: bench bench-quick demo test lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

bench: $(STAMP)
	$(PY) cli.py bench

bench-quick: $(STAMP)
	$(PY) cli.py bench --quick

demo: $(STAMP)
	$(PY) cli.py demo
	$(PY) cli.py down

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

test: lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
