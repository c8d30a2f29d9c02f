# The two commands of the README: `make demo` and `make test`. Each installs what it needs first.
VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip --no-cache-dir
PYTEST_ARGS ?=

.PHONY: deps venv npm test demo bench clean

deps:
	scripts/install-deps

# Debian's /usr/bin/python3, not the pyenv one: Apache's www-data workers must read it.
# --no-cache-dir: a cached mod_wsgi wheel may be linked against another Python.
$(VENV)/.installed: setup.py requirements-test.txt harness/pyproject.toml | deps
	test -x $(PY) || /usr/bin/python3 -m venv $(VENV)
	$(PIP) install -q -U pip setuptools wheel
	$(PIP) install -q -e '.[apache]' -r requirements-test.txt
	touch $@

venv: deps $(VENV)/.installed
	scripts/grant-web-access .

npm: deps
	@if [ -f loader/package.json ]; then cd loader && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; fi

test: venv npm
	$(VENV)/bin/pytest $(PYTEST_ARGS) tests

demo: venv npm
	$(PY) demo/run.py

bench: venv npm
	$(PY) bench/hashing.py
	cd bench && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	$(PY) bench/tracker.py
	$(PY) bench/flashcrowd.py

clean:
	rm -rf $(VENV) loader/node_modules
