# `make test` and `make demo` work from a fresh clone: they create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nasnet-installed
# torch is pinned here so that pip never resolves a (multi-GB) CUDA build on CPU machines.
TORCH_PIN ?= torch==2.13.0

.PHONY: test demo lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[test,ray]" "$(TORCH_PIN)"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m nasnet models

lint: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist src/*.egg-info
