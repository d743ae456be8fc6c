# The two commands of the README. Each one sets up .venv on a fresh machine when it is missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@# torch first, pinned to the CPU wheel on this machine's disk; users with CUDA bring their own.
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# The main job: the paper's ablation ladder end to end (synth -> zoo -> textualize -> rows -> report).
# A rerun reuses every finished stage under runs/demo.
demo: $(STAMP)
	$(PY) -m audistill demo --out runs/demo

test: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts
	@# pytest exits 5 when it collected no tests: that is a failure, never a pass.
	@$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
