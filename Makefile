# Two entry points: `make demo` and `make test`. Both build .venv from pinned requirements first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench tables reproduce clean

$(STAMP): requirements.txt pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@$(BIN)/python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else 'wrong torch: ' + v)"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/supermasks run configs/experiment1-quick.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Every benchmarks/*.py script into benchmarks/results.md; `make bench QUICK=1` for short versions.
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(if $(QUICK),--quick,)

# README and docs tables rewritten from the committed results/ (results/README.md).
tables: $(STAMP)
	$(BIN)/supermasks results tables

# `make reproduce NAME=compare`: rerun one documented result afresh and diff it against results/NAME.
reproduce: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make reproduce NAME=<result>; the results: $(BIN)/supermasks results list" >&2; exit 2; }
	$(BIN)/supermasks results reproduce $(NAME)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
