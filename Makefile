# Two commands do all the set-up on a machine that has only python3:
#   make bench  the benchmark on the embedded defaults; the report lands in reports/latest/
#   make test   the tests of every layer, plus ruff and mypy
#   make test-fast  the unit layer alone: in-process, no processes, well under a minute
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: bench bench-quick demo test test-fast lint clean

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

test-fast: $(STAMP)
	$(PY) -m pytest tests/unit -q

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
