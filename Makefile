# avgkit: `make run-all` runs the notebook series, `make test` runs the checks. `make help` lists all.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= cpu
# `make test` runs pytest on WORKERS processes (xdist: a notebook or a test file each); 0 runs one
WORKERS ?= 2
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# xdist hands out files in the order given: the two longest first, so that the workers end together
LONGEST := notebooks/06_evaluation.ipynb notebooks/04_losses.ipynb
export TF_CPP_MIN_LOG_LEVEL := 2

.DEFAULT_GOAL := help
.PHONY: help setup run-all test test-browser lint lab data bench study pretrained strip-notebooks clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## create .venv and install avgkit with its dependencies (once)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

run-all: setup ## run every notebook with papermill into runs/notebooks (PROFILE=cpu|cpu-long|gpu)
	$(BIN)/python tools/run_notebooks.py --profile $(PROFILE) $(NOTEBOOKS)

test: setup lint ## ruff, notebook cleanliness, pytest and nbval (fresh $$AVGKIT_HOME)
	$(BIN)/python tools/nbclean.py --check $(NOTEBOOKS)
	AVGKIT_HOME=$$(mktemp -d) $(BIN)/python -m pytest $(LONGEST) tests $(filter-out $(LONGEST),$(NOTEBOOKS)) \
		-n $(WORKERS) --dist loadfile --no-loadscope-reorder \
		--nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

test-browser: setup ## the slider and the joystick in a real JupyterLab and Chromium (needs `apt-get install -y chromium`)
	@test -x /usr/bin/chromium || { echo "make test-browser needs Debian's chromium: apt-get install -y chromium"; exit 1; }
	AVGKIT_HOME=$$(mktemp -d) $(BIN)/python -m pytest tests/browser -m browser

lint: setup ## ruff on the package, tests, tools and notebooks
	$(BIN)/ruff check avgkit tests tools notebooks conftest.py
	$(BIN)/ruff format --check avgkit tests tools conftest.py

lab: setup ## open JupyterLab on notebooks/
	$(BIN)/jupyter lab notebooks

data: setup ## record the default Ms. Pac-Man set into data/mspacman and cut its clips
	$(BIN)/avgkit record --out data/mspacman
	$(BIN)/avgkit process -t data/mspacman/Train -c data/mspacman/clips

bench: setup ## clip processing, training and rollout speed against TF1; runs/bench/bench.json
	$(BIN)/avgkit bench --out runs/bench

study: setup ## the adversarial study (resumable, hours): trains and scores into docs/study/
	$(BIN)/avgkit study

pretrained: setup ## rebuild the shipped models in avgkit/pretrained/ from the study's results
	$(BIN)/python tools/ship_pretrained.py docs/study avgkit/pretrained

strip-notebooks: setup ## remove volatile metadata (execution counts, timings) from notebooks
	$(BIN)/python tools/nbclean.py $(NOTEBOOKS)

clean: ## remove runs/, caches and the virtual environment (keeps data/)
	rm -rf runs $(VENV) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
