# Two commands do all the set-up: `make lab` and `make test` (see README.md).
# The interpreters the pins are tested on, in order of preference: Binder uses the first.
SUPPORTED_PYTHONS := 3.11 3.12 3.13
PRINT_VERSION := import sys; print("%d.%d" % sys.version_info[:2])
# The first of python3.11, python3.12, python3.13, python3 that runs and is supported (a pyenv
# shim can exist for a version that is not active); `make ... PYTHON=/path/to/python` chooses one.
ifeq ($(origin PYTHON),undefined)
FOUND_PYTHON := $(shell for candidate in $(SUPPORTED_PYTHONS:%=python%) python3; do \
  version=$$($$candidate -c '$(PRINT_VERSION)' 2>/dev/null) || continue; \
  case " $(SUPPORTED_PYTHONS) " in (*" $$version "*) echo "$$candidate $$version"; break;; esac; done)
PYTHON := $(firstword $(FOUND_PYTHON))
PYTHON_VERSION := $(word 2,$(FOUND_PYTHON))
else
PYTHON_VERSION := $(if $(PYTHON),$(shell $(PYTHON) -c '$(PRINT_VERSION)' 2>/dev/null))
endif
# One environment per interpreter: .venv for 3.11, .venv-3.12 and .venv-3.13 for the others.
VENV ?= $(if $(filter $(firstword $(SUPPORTED_PYTHONS)),$(PYTHON_VERSION)),.venv,.venv-$(or $(PYTHON_VERSION),none))
# The version a refusal is about: the chosen interpreter's, else the one `python3` runs.
SEEN_VERSION = $(or $(PYTHON_VERSION),$(if $(PYTHON),,$(shell python3 -c '$(PRINT_VERSION)' 2>/dev/null)))
WHICH_PYTHON = $(strip $(if $(PYTHON),'$(PYTHON)' is $(or $(PYTHON_VERSION:%=Python %),not a Python that runs),\
No supported Python found (looked for $(SUPPORTED_PYTHONS:%=python%) python3)$(SEEN_VERSION:%=; python3 is Python %)))
LAST_PYTHON := $(lastword $(SUPPORTED_PYTHONS))
minor = $(word 2,$(subst ., ,$(1)))
# Newer than every supported version (3.14 is the default python3 of Ubuntu 26.04 and Fedora 43).
TOO_NEW = $(and $(SEEN_VERSION),$(shell [ $(call minor,$(SEEN_VERSION)) -gt $(call minor,$(LAST_PYTHON)) ] 2>/dev/null && echo yes))
comma := ,
TOO_NEW_CAUSE = $(if $(TOO_NEW), TensorFlow 2.21 (pinned in requirements.txt) has no wheels for \
  Python $(SEEN_VERSION): the first TensorFlow with them is a pre-release. Install Python $(LAST_PYTHON) \
  with your system's package manager if it offers it$(comma) with pyenv ('pyenv install $(LAST_PYTHON)') \
  or with uv ('uv python install $(LAST_PYTHON)'; 'uv python find $(LAST_PYTHON)' prints its path).)
UNSUPPORTED_PYTHON = $(WHICH_PYTHON).$(TOO_NEW_CAUSE) The pins are tested on Python $(firstword $(SUPPORTED_PYTHONS)) \
  to $(LAST_PYTHON): install one, or choose it with \
  'make $(or $(MAKECMDGOALS),test) PYTHON=/path/to/python3.X'.
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REPO2DOCKER_VERSION := 2026.4.0

.PHONY: lab test lint notebooks browser-test binder-check clean

$(STAMP): requirements.txt pyproject.toml
	@$(if $(filter $(SUPPORTED_PYTHONS),$(PYTHON_VERSION)),true,echo "$(UNSUPPORTED_PYTHON)" >&2; exit 1)
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
	grep -q "apt-get install --yes --no-install-recommends nginx" build/repo2docker.log
	@echo "repo2docker accepts environment.yml (conda buildpack, python 3.11) and apt.txt (nginx)"

clean:
	rm -rf .venv .venv-3.* build tests/browser/node_modules

.PHONY: bench soak
## soak: the server under full load (500 sequences x 200 steps), long fuzzing, faults -> build/soak
soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak

## bench: serving benchmarks (start-up, RSS, step latency, 64 sequences) -> benchmarks/results.md
bench: $(STAMP)
	$(BIN)/python -m benchmarks.serving_bench
	$(BIN)/python -m benchmarks.routing_bench
	$(BIN)/python -m benchmarks.vad_bench

.PHONY: nginx replicas
PROXY ?= nginx
## nginx: install Debian's nginx when it is missing (as root; otherwise says how); replicas use it
nginx:
	@if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then echo "nginx is installed"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null && echo "nginx installed"; \
	else echo "nginx is missing: run 'sudo apt-get install -y nginx' (or 'sudo make nginx')" >&2; exit 1; fi

## replicas: 3 server replicas behind nginx (PROXY=envoy: Envoy), routed by sequence id; Ctrl-C stops
replicas: $(STAMP) $(if $(filter nginx,$(PROXY)),nginx)
	$(BIN)/python -m tools.replicas --count 3 --proxy $(PROXY)
