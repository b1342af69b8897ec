# `make test` and `make demo` work from a fresh clone: they create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nasnet-installed
# torch is pinned here so that pip never resolves a (multi-GB) CUDA build on CPU machines.
TORCH_PIN ?= torch==2.13.0

.PHONY: test demo lint bench bench-gpu clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[test,ray,report,export,tensorboard,pretrained]" "$(TORCH_PIN)"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

# The demo searches on the shared CIFAR-10 copy when it is there, else on CIFAR-10 from the data location.
DEMO_DATA ?= $(if $(wildcard ../shared/data/cifar10-jpeg.tar.gz),../shared/data/cifar10-jpeg.tar.gz,cifar10)
DEMO_OUT ?= runs/demo

demo: $(STAMP)
	$(PY) -m nasnet models
	rm -rf $(DEMO_OUT)
	$(PY) -m nasnet search --strategy rl --data $(DEMO_DATA) --preset smoke --trials 6 --workers 2 \
		--set train_subset=1000 --set val_subset=500 --set epochs=2 --out $(DEMO_OUT)
	$(PY) -m nasnet top $(DEMO_OUT) -k 3
	$(PY) -m nasnet export $(DEMO_OUT) --best -o $(DEMO_OUT)/best_cell.json
	$(PY) -m nasnet show $(DEMO_OUT)/best_cell.json
	$(PY) -m nasnet info $(DEMO_OUT)/best_cell.json -N 6 -C 32
	if command -v dot >/dev/null; then $(PY) -m nasnet draw $(DEMO_OUT)/best_cell.json -o $(DEMO_OUT)/best_cell.svg; fi
	$(PY) -m nasnet report $(DEMO_OUT) -o $(DEMO_OUT)/report.html
	@echo "the search's report: $(DEMO_OUT)/report.html"

# On a GPU machine, with the torch it already has (no .venv): every GPU measurement, about 20+ minutes.
bench-gpu:
	PYTHONPATH=src $(PYTHON) bench/gpu_suite.py $(ARGS)
	$(PYTHON) bench/gpu_report.py

lint: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache build dist src/*.egg-info
