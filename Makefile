# The two commands: `make demo` and `make test`. Both build .venv themselves on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test install install-dev system-deps browser react lint type unit integration e2e explore clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## The programs the suite runs for real (nginx, openssl, node, redis-server), through apt-get as root.
system-deps:
	@scripts/install-system-deps

## A browser for the e2e suite: Playwright's own Chromium where it can be downloaded, else the system one.
browser: $(VENV)/.installed-dev
	@scripts/install-browser $(PY)

## The React hook and its /react-demo page (clients/react): npm ci from the lock file, tsc --noEmit, esbuild.
react:
	@scripts/build-react

## The demo needs only Python: without node/npm the React page is skipped (it answers 503 naming `make react`).
demo: $(VENV)/.installed
	@scripts/build-react || echo "demo: /react-demo/sessions/{id} is not built (see above); the plain demo page works"
	$(VENV)/bin/sse-harness demo

test: system-deps browser react
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(PY) -m ruff check .
type: install-dev
	$(PY) -m mypy
unit: install-dev
	$(PY) -m pytest -m "unit or asgi" $(PYTEST_ARGS)
integration: install-dev
	$(PY) -m pytest -m integration $(PYTEST_ARGS)
e2e: browser react
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

## The property-based and schema fuzz tests with a random seed (make test runs them derandomized).
FUZZ_TESTS = tests/security/test_sse_wire_properties.py tests/security/test_openapi_fuzz.py
explore: install-dev
	$(PY) -m pytest --hypothesis-profile=explore --hypothesis-show-statistics $(FUZZ_TESTS) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
