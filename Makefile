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

# Every benchmark, one after the other (about an hour; the --net ones need root: namespaces).
# The emulated network first: those are the figures a site can expect (bench/RESULTS.md).
bench: venv npm
	$(PY) bench/net.py selftest
	$(PY) bench/flashcrowd.py --clients 32 --net home --spread 0
	$(PY) bench/flashcrowd.py --clients 32 --net mobile --spread 0
	$(PY) bench/flashcrowd.py --clients 32 --net home=0.5,mobile=0.5 --spread 0
	$(PY) bench/flashcrowd.py --clients 60 --pages 20 --size 1MiB --net home --spread 0
	$(PY) bench/flashcrowd.py --browsers 4 --net home --spread 0
	$(PY) bench/flashcrowd.py --clients 8 --net home --spread 0 --frontends 2 --no-http
	$(PY) bench/flashcrowd.py --clients 32 --from-cold --hot views=1
	$(PY) bench/flashcrowd.py
	$(PY) bench/browser.py
	$(PY) bench/hashing.py
	$(PY) bench/hashing.py --webrtc
	$(PY) bench/filter.py
	cd bench && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	$(PY) bench/tracker.py

clean:
	rm -rf $(VENV) loader/node_modules
