# Two commands do all the set-up on a machine that has only python3:
#   make bench  the benchmark on the embedded defaults; the report lands in reports/latest/
#   make test   the tests of every layer, plus ruff, mypy, import-linter and the docs build
#   make docs   the documentation site, built into site/
#   make test-fast  the unit layer alone: in-process, no processes, half a minute
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LAB := $(VENV)/bin/discovery-lab
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: bench bench-quick bench-capacity bench-reliability bench-scale bench-costs demo docs test test-fast lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# dev holds the bench extra too, so the tests can render reports.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BENCH_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(LAB) bench

bench-quick: $(BENCH_STAMP)
	$(LAB) bench --quick

# The default plan plus one opt-in extra each (`discovery-lab bench --help` says what they measure).
bench-capacity: $(BENCH_STAMP)
	$(LAB) bench --with capacity

bench-reliability: $(BENCH_STAMP)
	$(LAB) bench --with reliability

bench-scale: $(BENCH_STAMP)
	$(LAB) bench --with scale

bench-costs: $(BENCH_STAMP)
	$(LAB) bench --with costs

demo: $(BENCH_STAMP)
	$(LAB) demo
	$(LAB) down

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(MAKE) docs

# --strict: a broken link, a missing page or a lost snippet fails the build (not with --quiet,
# which hides the warnings that --strict counts).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# The in-process and integration layers on every core; the process stacks one at a time, since
# two six-process stacks on 2 cores miss their deadlines.
test: lint
	$(PY) -m pytest tests/unit tests/integration -n auto
	$(PY) -m pytest tests/e2e

test-fast: $(STAMP)
	$(PY) -m pytest tests/unit -q -n auto

clean:
	rm -rf $(VENV) build site *.egg-info .mypy_cache .ruff_cache .pytest_cache
