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
  /usr/lib/postgresql/*/bin/initdb:postgresql
SYSTEM_NEEDS := $(RUN_NEEDS) $(if $(filter test,$(MAKECMDGOALS)),$(TEST_NEEDS))
ARGS ?=

.PHONY: run test lint format bench build setup system models clean

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

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m bench.kernels

setup: system $(VENV)/.installed build models

# The default models (about 0.9 GB) into ~/.cache/mediaserver/models: once per machine.
models: $(VENV)/.installed
	$(BIN)/python -m models install

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
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
	  || { echo "mediaserver needs Python 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel Cython "numpy>=2,<3"
	$(BIN)/python -m pip install -q --no-build-isolation -e '.[dev]'
	touch $@

build: $(VENV)/.installed
	$(BIN)/python setup.py -q build_ext --inplace 2>&1 | grep -v -e SetuptoolsDeprecationWarning -e '^ *!!' -e '^ *\*\*\*' || true
	@$(BIN)/python -c 'import native._g711, native._resample, native._jitter, native._playout' \
	  || { echo "native extensions failed to build"; exit 1; }

clean:
	rm -rf build $(VENV) native/*.c native/*.so native/__pycache__ *.egg-info
