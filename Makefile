# robofleet: `make run` starts the runtime on embedded defaults, `make test` runs every test,
# `make demo` shows mail -> invoice -> notification end to end.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# arq declares redis<6, which no resolver can join with Celery's redis>=6.4: installed alone,
# without its dependencies (the redis-py and click already here), for its benchmark peer
ARQ := 'arq>=0.28'

.PHONY: run demo test install services lint unit integration multinode bench clean

run: $(STAMP)  ## start robofleet in the foreground (Ctrl-C stops it)
	$(BIN)/robofleet up

demo: $(STAMP) services  ## a mail with a scanned invoice -> its fields -> a notification, with throwaway servers
	$(BIN)/pip install -q -e '.[demo]'
	$(BIN)/robofleet demo

test: $(STAMP) services lint  ## install what is needed, then lint and run every test
	$(BIN)/pytest --durations=30 tests/unit tests/integration
	$(BIN)/pytest tests/multinode  # its own three-node Ray cluster, so its own process

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps $(ARQ)
	touch $(STAMP)

services:  ## install wrk, Tesseract (eng deu fra spa nld ita por), PostgreSQL and Redis, and start the last two, when missing
	bash .ci/ensure-services.sh

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check actors runtime gateway cluster tests bench
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) services
	$(BIN)/pytest tests/integration

multinode: $(STAMP)
	$(BIN)/pytest tests/multinode

bench: $(STAMP) services  ## every benchmark; figures printed and kept in bench/results/
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/pip install -q --no-deps $(ARQ)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.multinode

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
