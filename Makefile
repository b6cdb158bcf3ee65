# lifecircle — two commands on a fresh machine:  make demo   |   make test
# Both set themselves up: a virtualenv in .venv, the Python packages from pyproject.toml,
# and the Debian packages listed in .ci/apt-packages.txt (CJK fonts, Chromium for browser tests).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-install

.PHONY: setup demo test lint typecheck bench clean system-packages

setup: $(STAMP) system-packages

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

system-packages:
	@bash .ci/install-system-packages

demo: setup
	$(VENV)/bin/lifecircle demo --out out

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests $(wildcard benchmarks scripts)
	$(VENV)/bin/ruff format --check src tests $(wildcard benchmarks scripts)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# the suite on TEST_WORKERS pytest-xdist workers (one file stays on one worker, so module fixtures
# are built once); TEST_WORKERS=0 runs it in this one process
TEST_WORKERS ?= 2

test: setup lint typecheck
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: setup
	$(PY) benchmarks/bench_access.py

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .ruff_cache
