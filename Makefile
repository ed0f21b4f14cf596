# mediaserver: `make run` sets everything up and starts the server;
# `make test` sets everything up, lints, and runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Debian packages, each checked by a command (or file) it provides.
# A need with a slash is a file pattern (PostgreSQL's server lives off PATH).
RUN_NEEDS := gcc:build-essential espeak-ng:espeak-ng sox:sox /usr/lib/*/libopus.so.0:libopus0
# the suite's real peers: sipp, headless Chromium, a Kamailio registrar, PostgreSQL
TEST_NEEDS := sipp:sip-tester chromium:chromium kamailio:kamailio \
  /usr/lib/*/kamailio/modules/tls.so:kamailio-tls-modules \
  /usr/lib/postgresql/*/bin/initdb:postgresql docker-compose:docker-compose
SYSTEM_NEEDS := $(RUN_NEEDS) $(if $(filter test lint,$(MAKECMDGOALS)),$(TEST_NEEDS))
ARGS ?=
PIP_VERSION := 26.3

.PHONY: run test lint format bench build setup system models lock clean

run: setup
	$(BIN)/mediaserver serve $(ARGS)

test: setup lint
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cython-lint --max-line-length 100 native/*.pyx native/*.pxd
	$(BIN)/hadolint Dockerfile.gpu
	docker-compose -f deploy/compose.yaml config -q

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m bench.kernels

# One line per step with its time; tools' own output goes to $(SETUP_LOG).
SETUP_LOG ?= $(CURDIR)/setup.log
export SETUP_LOG
STEP := scripts/step
PIP := $(BIN)/python -m pip --disable-pip-version-check

setup: system $(VENV)/.installed build models

# The default models (about 0.9 GB) into ~/.cache/mediaserver/models: once per machine.
models: $(VENV)/.installed
	@$(BIN)/python -m models --log $(SETUP_LOG) install

# apt-get only what is missing, so a prepared machine needs neither root nor network.
system:
	@missing=""; \
	for need in $(SYSTEM_NEEDS); do \
	  check="$${need%%:*}"; \
	  case "$$check" in \
	    */*) compgen -G "$$check" >/dev/null || missing="$$missing $${need##*:}" ;; \
	    *) command -v "$$check" >/dev/null 2>&1 || missing="$$missing $${need##*:}" ;; \
	  esac; \
	done; \
	[ -n "$(PYTHON)" ] || missing="$$missing python3 python3-venv python3-dev"; \
	if [ -n "$(PYTHON)" ]; then \
	  $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	  $(PYTHON) -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	    || missing="$$missing python3-dev"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $(STEP) "Debian packages:$$missing" bash -c "$$sudo apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing"; \
	else \
	  echo "Debian packages                              all present"; \
	fi

# Everything from requirements.lock, hash-checked; llama-cpp-python is the one
# sdist (compiled in its own isolated build, its build tools pinned by
# build-constraints.txt); then the project itself, built here without isolation.
$(VENV)/.installed: requirements.lock build-constraints.txt pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
	  || { echo "mediaserver needs Python 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	@[ -x $(BIN)/python ] || $(STEP) "Python virtual environment ($(VENV))" $(PYTHON) -m venv $(VENV)
	@$(STEP) "pip $(PIP_VERSION)" $(PIP) install pip==$(PIP_VERSION)
	@$(BIN)/python -c 'import llama_cpp' 2>/dev/null \
	  || echo "  (first time: llama-cpp-python compiles from source, about 5 minutes on 2 cores)"
	@$(STEP) "Python packages (requirements.lock)" $(PIP) install --require-hashes --no-deps \
	  --build-constraint build-constraints.txt -r requirements.lock
	@$(STEP) "mediaserver (editable)" $(PIP) install --no-build-isolation --no-deps -e .
	@$(STEP) "dependencies consistent (pip check)" $(PIP) check
	@touch $@

build: native/.built

native/.built: $(VENV)/.installed setup.py $(wildcard native/*.pyx native/*.pxd native/*.h)
	@$(STEP) "native kernels (Cython)" $(BIN)/python setup.py build_ext --inplace
	@$(BIN)/python -c 'import native._g711, native._resample, native._jitter, native._playout, native._tone' \
	  || { echo "native extensions failed to build (see $(SETUP_LOG))"; exit 1; }
	@touch $@

# Regenerate the lock files from pyproject.toml (newest versions its bounds allow);
# requirements-gpu.lock is Dockerfile.gpu's (no dev tools, onnxruntime-gpu).
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet
lock:  # not after setup: a changed pyproject.toml is what the lock is for, setup would refuse it
	@[ -x $(BIN)/uv ] || { echo "make setup first (the lock is made with its uv)"; exit 1; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra build $(LOCK_FLAGS) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra gpu --no-emit-package onnxruntime $(LOCK_FLAGS) \
	  -o requirements-gpu.lock
	printf 'scikit-build-core[pyproject]>=0.9.2\ncmake>=3.21\nninja>=1.5\n' \
	  | $(BIN)/uv pip compile - --python-version 3.11 --quiet -o build-constraints.txt

clean:
	rm -rf build $(VENV) native/*.c native/*.so native/.built native/__pycache__ *.egg-info
