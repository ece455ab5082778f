# Two commands do all the set-up: `make lab` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test lint notebooks clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# A kernelspec inside the venv, so `python3` never resolves to another environment's kernel.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
	touch $@

## lab: set up (once) and open JupyterLab on notebooks/, bound to 127.0.0.1
lab: $(STAMP)
	$(BIN)/jupyter lab --ip=127.0.0.1 --ServerApp.root_dir=notebooks

## test: set up (once), lint, then unit tests and nbval over every notebook
test: $(STAMP) lint
	$(BIN)/python -m pytest

LINTED := $(wildcard helpers tests notebooks benchmarks)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

## notebooks: re-execute every notebook in place; the only way committed outputs are made
notebooks: $(STAMP)
	$(BIN)/python -m helpers.execute_notebooks notebooks/*.ipynb

clean:
	rm -rf $(VENV) build
