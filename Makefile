# AutoCRM — `make demo` to try it, `make test` to check it. Everything else is set up on the way.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Byte-compile at install: every process then starts without compiling Django (readiness).
export UV_COMPILE_BYTECODE := 1

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .tools/bin/uv
endif

VENDOR := build/vendor
PYTEST_ARGS ?=

.PHONY: setup demo run serve test test-unit e2e bench lint format messages clean help

help:
	@echo "make demo   - set up, load demo data, serve on http://127.0.0.1:8000"
	@echo "make test   - set up and run the whole test suite"
	@echo "make run    - set up, create the first admin if none, serve (no demo data)"
	@echo "make bench  - latency / throughput / memory benchmarks on a fresh database"
	@echo "make lint   - ruff check and format check"

.tools/bin/uv:
	$(PY) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PY)
	@touch $@

$(VENDOR)/.copied: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)/tabler $(VENDOR)/htmx $(VENDOR)/echarts
	cp node_modules/@tabler/core/dist/css/tabler.min.css* $(VENDOR)/tabler/
	cp node_modules/@tabler/core/dist/js/tabler.min.js* $(VENDOR)/tabler/
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)/echarts/
	@touch $@

setup: $(VENV)/.synced $(VENDOR)/.copied
	@$(BIN)/autocrm compilemessages >/dev/null
	@$(BIN)/autocrm manage collectstatic --noinput -v 0

demo: setup
	$(BIN)/autocrm demo --scale $(or $(SCALE),small)

run: setup
	$(BIN)/autocrm migrate
	$(BIN)/autocrm createadmin --if-none
	$(BIN)/autocrm serve

test: setup
	@if [ -x /usr/bin/chromium ]; then \
		AUTOCRM_TESTING=1 $(BIN)/pytest $(PYTEST_ARGS); \
	else \
		echo "Browser tests need Debian's Chromium: apt-get install -y chromium fonts-noto-cjk"; \
		echo "Running every other test now; the browser tests (tests/e2e) are NOT run."; \
		AUTOCRM_TESTING=1 $(BIN)/pytest --ignore=tests/e2e $(PYTEST_ARGS); \
	fi

test-unit: setup
	AUTOCRM_TESTING=1 $(BIN)/pytest --ignore=tests/e2e $(PYTEST_ARGS)

e2e: setup
	AUTOCRM_TESTING=1 $(BIN)/pytest tests/e2e $(PYTEST_ARGS)

# Archive benchmark size. chain (200 000 customers, 100 000 work orders) by default: `large`
# now also loads 5 000 000 work orders, which the demo loader cannot do within the harness's
# time limit yet (BENCH_SCALE=large BENCH_ARCHIVE_ARGS="--load-timeout 7200" to try).
BENCH_SCALE ?= chain
BENCH_ARCHIVE_ARGS ?=

bench: setup
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/board.py
	$(BIN)/python benchmarks/shopfloor.py
	$(BIN)/python benchmarks/import_bench.py
	$(BIN)/python benchmarks/archive.py --scale $(BENCH_SCALE) $(BENCH_ARCHIVE_ARGS)
	$(BIN)/python benchmarks/settle.py
	$(BIN)/python benchmarks/messages.py
	$(BIN)/python benchmarks/maintenance.py
	$(BIN)/python benchmarks/rules_scan.py
	$(BIN)/python benchmarks/rfm.py
	$(BIN)/python benchmarks/reports.py

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.synced
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

messages: $(VENV)/.synced
	cd src/autocrm && ../../$(BIN)/autocrm manage makemessages -l zh_Hans --no-obsolete --no-location

clean:
	rm -rf $(VENV) .tools node_modules build var/static
