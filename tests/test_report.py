"""The report: fixed run folders (an MT run, a fine-tune output with seeds, a
run outside the paper's tasks) become the hand-written tables below."""

import csv
import json
import os
import subprocess
import sys

import pytest

from bluebert_mtl.runs import results as results_lib
from bluebert_mtl.study import report
from bluebert_mtl.errors import ConfigError
from conftest import REPO_ROOT

# Table rows stay whole lines, past 80 columns where they must.
EXPECTED = """\
# Results

Official test metric of each task; a ± gives the sample standard deviation \
over n seeds (the value is their mean). paper: Peng, Chen & Lu (BioNLP \
2020). The paper's DDI score is \
micro F1; the official BLUE DDI metric, which runs report, is macro F1.

## Clinical tasks (paper Table 2)

| model | ClinicalSTS | i2b2 2010 re | MedNLI | ShARe/CLEFE | Avg |
|---|---|---|---|---|---|
| baseline | 0.850 | 0.760 | 0.840 | 0.770 | 0.805 |
| mt-ft | 0.800 | 0.700 | 0.820 | 0.840 | 0.790 |
| paper: BlueBERT clinical | 0.848 | 0.764 | 0.840 | 0.771 | 0.806 |
| paper: MT-BlueBERT-Refinement clinical | 0.822 | 0.745 | 0.835 | 0.826 | 0.807 |
| paper: MT-BlueBERT-Fine-Tune clinical | 0.840 | 0.760 | 0.846 | 0.831 | 0.819 |

## Biomedical tasks (paper Table 3)

| model | ChemProt | DDI | BC5CDR disease | BC5CDR chemical | Avg |
|---|---|---|---|---|---|
| baseline | 0.700 ± 0.020, n=2 | - | - | - | - |
| mt-ft | 0.720 | 0.800 | 0.860 | 0.940 | 0.830 |
| paper: BlueBERT biomedical | 0.725 | 0.739 | 0.866 | 0.935 | 0.816 |
| paper: MT-BlueBERT-Refinement biomedical | 0.714 | 0.792 | 0.824 | 0.930 | 0.815 |
| paper: MT-BlueBERT-Fine-Tune biomedical | 0.729 | 0.820 | 0.865 | 0.931 | 0.836 |

## All eight tasks (paper Table 6)

| task | metric | baseline | mt-ft | paper: BlueBERT biomedical | \
paper: BlueBERT clinical | paper: MT-BioBERT-FT | \
paper: MT-BlueBERT-FT biomedical | paper: MT-BlueBERT-FT clinical |
|---|---|---|---|---|---|---|---|---|
| ClinicalSTS | pearson | 0.850 | 0.800 | 0.845 | 0.848 | 0.807 | 0.820 | 0.807 |
| i2b2 2010 re | micro_f1 | 0.760 | 0.700 | 0.744 | 0.764 | 0.740 | 0.738 | 0.748 |
| MedNLI | accuracy | 0.840 | 0.820 | 0.822 | 0.840 | 0.831 | 0.814 | 0.842 |
| ChemProt | micro_f1 | 0.700 ± 0.020, n=2 | 0.720 | 0.725 | 0.692 | 0.735 | 0.724 | 0.686 |
| DDI | macro_f1 | - | 0.800 | 0.739 | 0.760 | 0.810 | 0.808 | 0.779 |
| BC5CDR disease | chunk_f1 | - | 0.860 | 0.866 | 0.854 | 0.849 | 0.853 | 0.848 |
| BC5CDR chemical | chunk_f1 | - | 0.940 | 0.935 | 0.924 | 0.928 | 0.928 | 0.914 |
| ShARe/CLEFE | chunk_f1 | 0.770 | 0.840 | 0.754 | 0.771 | 0.812 | 0.814 | 0.830 |
| Avg | mean | - | 0.810 | 0.804 | 0.807 | 0.814 | 0.812 | 0.807 |

## Other tasks

| task | metric | mt-ft | extra |
|---|---|---|---|
| biosses | pearson | 0.900 | - |
| hoc | hoc_f1 | - | 0.812 |

## Runs

| run | tasks | wall time (h:mm:ss) |
|---|---|---|
| baseline | 5 | 0:08:20 |
| mt-ft | 9 | 1:02:05 |
| extra | 1 | - |

## Each run's wall time

| run | folder | wall time (h:mm:ss) |
|---|---|---|
| baseline | chemprot/seed_1 | 0:00:50 |
| baseline | chemprot/seed_2 | 0:00:50 |
| baseline | clinicalsts | 0:01:40 |
| baseline | i2b2-2010-re | 0:01:40 |
| baseline | mednli | 0:01:40 |
| baseline | shareclefe | 0:01:40 |
| mt-ft | . | 1:02:05 |
"""


def _write_json(folder, name, content):
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, name), "w") as f:
    json.dump(content, f)


def _entry(metric, value):
  return {"best_step": 10, "dev": {metric: 0.5}, "test": {metric: value}}


@pytest.fixture(name="runs")
def fixture_runs(tmp_path):
  """name=folder of three runs written by hand."""
  base = tmp_path / "baseline"  # run_finetune.py layout, chemprot with seeds
  for task, metric, value in (("clinicalsts", "pearson", 0.85),
                              ("i2b2-2010-re", "micro_f1", 0.76),
                              ("mednli", "accuracy", 0.84),
                              ("shareclefe", "chunk_f1", 0.77)):
    _write_json(base / task, "results.json", {task: _entry(metric, value)})
    _write_json(base / task, "timing.json", {"wall_seconds": 100.0})
  _write_json(base / "chemprot", "results.json", {"chemprot": {
      "seeds": [1, 2], "dev": {"micro_f1": 0.6}, "test": {"micro_f1": 0.7},
      "dev_sd": {"micro_f1": 0.01}, "test_sd": {"micro_f1": 0.02},
      "per_seed": {}}})
  for seed in (1, 2):
    _write_json(base / "chemprot" / f"seed_{seed}", "timing.json",
                {"wall_seconds": 50.0, "resumed": False})
  mt = tmp_path / "mt"  # one multi-task run folder
  _write_json(mt, "results.json", {
      "clinicalsts": _entry("pearson", 0.80),
      "i2b2-2010-re": _entry("micro_f1", 0.70),
      "mednli": _entry("accuracy", 0.82),
      "shareclefe": _entry("chunk_f1", 0.84),
      "chemprot": _entry("micro_f1", 0.72),
      "ddi2013-type": _entry("macro_f1", 0.80),
      "bc5cdr-disease": _entry("chunk_f1", 0.86),
      "bc5cdr-chemical": _entry("chunk_f1", 0.94),
      "biosses": _entry("pearson", 0.90)})
  _write_json(mt, "timing.json", {"wall_seconds": 3725.0})
  extra = tmp_path / "extra"  # no timing; biosses without a test score
  _write_json(extra, "results.json", {
      "hoc": _entry("hoc_f1", 0.8123),
      "biosses": {"best_step": 1, "dev": {"pearson": 0.3}, "test": {}}})
  return [f"baseline={base}", f"mt-ft={mt}", f"extra={extra}"]


def test_markdown_is_the_hand_written_tables(runs):
  loaded = [report.read_run(name, folder)
            for name, folder in report.parse_runs(runs)]
  assert report.to_markdown(loaded) == EXPECTED


def test_cli_writes_the_markdown_and_a_csv_of_every_number(runs, tmp_path):
  output = tmp_path / "out" / "table.md"
  subprocess.run([sys.executable, "-m", "bluebert_mtl.commands.report",
                  "--runs=" + ",".join(runs), f"--output={output}"],
                 cwd=REPO_ROOT, check=True, capture_output=True)
  assert output.read_text(encoding="utf-8") == EXPECTED
  with open(tmp_path / "out" / "table.csv", encoding="utf-8") as f:
    rows = list(csv.reader(f))
  assert rows[0] == ["source", "model", "task", "metric", "value", "sd",
                     "seeds"]
  assert ["run", "baseline", "chemprot", "micro_f1", "0.7", "0.02",
          "2"] in rows
  assert ["run", "baseline", "clinicalsts", "pearson", "0.85", "",
          "1"] in rows
  assert ["paper Table 3", "MT-BlueBERT-Fine-Tune biomedical",
          "avg_biomedical", "", "0.836", "", ""] in rows
  assert ["paper Table 6", "MT-BioBERT-FT", "ddi2013-type", "", "0.81", "",
          ""] in rows
  by_key = {tuple(r[:4]): r[4] for r in rows[1:]}
  assert float(by_key["run", "mt-ft", "avg_all", "mean"]) == pytest.approx(
      0.81)
  assert float(by_key["run", "mt-ft", "avg_clinical", "mean"]) == (
      pytest.approx(0.79))
  assert ("run", "baseline", "avg_clinical", "mean") in by_key
  assert ("run", "baseline", "avg_all", "mean") not in by_key
  wall = "wall_seconds"  # the sums of the hand-written timing.json files
  assert float(by_key["run", "baseline", "all", wall]) == 4 * 100 + 2 * 50
  assert float(by_key["run", "mt-ft", "all", wall]) == 3725
  assert ("run", "extra", "all", wall) not in by_key
  assert float(by_key["run", "baseline", "chemprot/seed_2", wall]) == 50
  assert float(by_key["run", "mt-ft", ".", wall]) == 3725
  assert sum(r[0].startswith("paper") for r in rows) == 3 * 5 + 3 * 5 + 5 * 9


def test_published_averages_are_the_means_of_the_published_scores():
  for table in report.PAPER_TABLES:
    for model, scores in table.models.items():
      assert len(scores) == len(table.tasks) + 1, (table.name, model)
      mean = sum(scores[:-1]) / len(table.tasks)
      assert abs(mean - scores[-1]) <= 0.0011, (table.name, model)


def test_domains_are_the_papers_split_of_its_eight_tasks():
  assert report.CLINICAL == ("clinicalsts", "i2b2-2010-re", "mednli",
                             "shareclefe")
  assert report.BIOMEDICAL == ("chemprot", "ddi2013-type", "bc5cdr-disease",
                               "bc5cdr-chemical")
  assert sorted(report.PAPER_TASKS) == sorted(report.CLINICAL +
                                              report.BIOMEDICAL)


def test_bad_runs_are_config_errors(tmp_path):
  with pytest.raises(ConfigError, match="not name=folder"):
    report.parse_runs(["no-equals-sign"])
  with pytest.raises(ConfigError, match="holds no results.json"):
    report.read_run("empty", str(tmp_path))


@pytest.mark.parametrize("name", ["results.json", "timing.json"])
def test_a_truncated_run_file_is_named_in_the_error(tmp_path, name):
  task_folder = tmp_path / "chemprot"
  task_folder.mkdir()
  (task_folder / "results.json").write_text('{"chemprot": {"test": {}}}')
  (task_folder / "timing.json").write_text('{"wall_seconds": 12.5}')
  (task_folder / name).write_text('{"wall_sec')
  with pytest.raises(ConfigError, match=f"chemprot/{name}: not valid JSON"):
    report.read_run("run", str(tmp_path))


def test_a_task_whose_seeds_have_not_all_run_is_the_mean_of_those_finished(
    tmp_path):
  # chemprot: seeds 1 and 3 finished, seed 2 stopped part-way (results.json
  # from an evaluation, no timing.json); no aggregate results.json yet.
  task = tmp_path / "chemprot"
  for seed, test, finished in ((1, 0.30, True), (2, 0.90, False),
                               (3, 0.20, True)):
    _write_json(task / f"seed_{seed}", "results.json",
                {"chemprot": _entry("micro_f1", test)})
    if finished:
      _write_json(task / f"seed_{seed}", "timing.json", {"wall_seconds": 1.0})
  _write_json(tmp_path / "hoc", "results.json", {"hoc": _entry("hoc_f1", 0.8)})
  results = results_lib.read_results(str(tmp_path))
  assert sorted(results) == ["chemprot", "hoc"]
  chemprot = results["chemprot"]
  assert chemprot["seeds"] == [1, 3]
  assert chemprot["test"]["micro_f1"] == pytest.approx(0.25)
  # sample sd of (0.30, 0.20): sqrt(2 * 0.05^2 / 1)
  assert chemprot["test_sd"]["micro_f1"] == pytest.approx(0.0707106781)
  score = results_lib.score_of(chemprot)
  assert (score.value, score.seeds) == (pytest.approx(0.25), 2)
