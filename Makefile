# Two commands do all the set-up: `make lab` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPO2DOCKER_VERSION := 2026.4.0

.PHONY: lab test lint notebooks browser-test binder-check clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# A kernelspec inside the venv, so `python3` never resolves to another environment's kernel.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
	touch $@

## lab: set up (once) and open JupyterLab on notebooks/, bound to 127.0.0.1, as root too (tools/lab.py)
lab: $(STAMP)
	$(BIN)/python -m tools.lab

## test: set up (once), lint, then unit tests and nbval over every notebook
test: $(STAMP) lint
	$(BIN)/python -m pytest

LINTED := $(wildcard helpers tests notebooks benchmarks tools)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

## notebooks: re-execute every notebook in place; the only way committed outputs are made
notebooks: $(STAMP)
	$(BIN)/python -m tools.execute_notebooks notebooks/*.ipynb

## browser-test: every notebook in a real JupyterLab in headless Chromium (installs both as needed)
browser-test: $(STAMP) /usr/bin/chromium tests/browser/node_modules/.package-lock.json
	$(BIN)/python -m pytest -m browser tests/browser -s

/usr/bin/chromium:
	@[ "$$(id -u)" = 0 ] || { echo "Chromium is missing: run 'sudo apt-get install chromium'"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

tests/browser/node_modules/.package-lock.json: tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --silent

## binder-check: repo2docker (in a throwaway venv) accepts the repository without building it
binder-check:
	$(PYTHON) -m venv build/repo2docker
	build/repo2docker/bin/python -m pip install --quiet jupyter-repo2docker==$(REPO2DOCKER_VERSION)
	build/repo2docker/bin/repo2docker --no-build --debug . > build/repo2docker.log 2>&1
	grep -q "Building conda environment for python=3.11" build/repo2docker.log
	grep -q 'env update -p $${NB_PYTHON_PREFIX} --file "environment.yml"' build/repo2docker.log
	@echo "repo2docker accepts environment.yml (conda buildpack, python 3.11)"

clean:
	rm -rf $(VENV) build tests/browser/node_modules

.PHONY: bench soak
## soak: the server under full load (500 sequences x 200 steps), long fuzzing, faults -> build/soak
soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak

## bench: serving benchmarks (start-up, RSS, step latency, 64 sequences) -> benchmarks/results.md
bench: $(STAMP)
	$(BIN)/python -m benchmarks.serving_bench
