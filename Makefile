# Two targets do all the set-up on a fresh machine:
#   make demo   installs the pinned stack into .venv and runs the embedded demo
#   make test   installs the stack (and pytest) into .venv and runs the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

$(STAMP): requirements.txt requirements-nodeps.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-test.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

.PHONY: install demo test
install: $(STAMP)

demo: $(STAMP)
	$(PY) run_mtl.py --flagfile=flags/demo.flags

test: $(STAMP)
	$(PY) -m pytest -q tests
