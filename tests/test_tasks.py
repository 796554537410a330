"""The task registry, user task definitions, and the evaluator on gold files."""

import json
import os
import subprocess
import sys

import pytest

from bluebert_mtl import tasks
from bluebert_mtl.errors import ConfigError, DataError
from conftest import REPO_ROOT, SAMPLE_DIR

PUBLIC = ("chemprot", "ddi2013-type", "hoc", "biosses", "bc5cdr-chemical",
          "bc5cdr-disease")


def test_registry_holds_the_ten_blue_tasks_with_their_official_metrics():
  assert {name: (t.kind, t.metric) for name, t in tasks.TASKS.items()} == {
      "clinicalsts": ("regression", "pearson"),
      "biosses": ("regression", "pearson"),
      "mednli": ("classification", "accuracy"),
      "chemprot": ("classification", "micro_f1"),
      "ddi2013-type": ("classification", "macro_f1"),
      "i2b2-2010-re": ("classification", "micro_f1"),
      "bc5cdr-chemical": ("tagging", "chunk_f1"),
      "bc5cdr-disease": ("tagging", "chunk_f1"),
      "shareclefe": ("tagging", "chunk_f1"),
      "hoc": ("multilabel", "hoc_f1"),
  }
  # Label orders of docs/original_system.md §1.3 (negative class last).
  assert tasks.TASKS["chemprot"].labels[-1] == "false"
  assert tasks.TASKS["ddi2013-type"].labels == (
      "DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism", "DDI-false")
  assert len(tasks.TASKS["i2b2-2010-re"].labels) == 9
  assert len(tasks.TASKS["hoc"].labels) == 10


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_gold_scored_against_itself_is_perfect_on_samples(name):
  gold = os.path.join(SAMPLE_DIR, name, "test.tsv")
  scores = tasks.TASKS[name].score_files(gold, gold)
  assert scores["value"] == pytest.approx(1.0)
  assert scores["task"] == name and scores["metric"] == tasks.TASKS[name].metric


@pytest.mark.parametrize("name", PUBLIC)
def test_gold_scored_against_itself_is_perfect_on_real_data(name,
                                                            blue_public_dir):
  gold = os.path.join(blue_public_dir, name, "dev.tsv")
  assert tasks.TASKS[name].score_files(gold, gold)["value"] == (
      pytest.approx(1.0))


def test_one_wrong_relation_prediction_costs_what_it_should(tmp_path):
  task = tasks.TASKS["chemprot"]
  gold = os.path.join(SAMPLE_DIR, "chemprot", "test.tsv")
  rows = [(ex.guid, ex.label) for ex in task.read(gold)]
  positives = [g for g, label in rows if label != "false"]
  # One positive predicted "false": one FN; P stays 1, R = (n-1)/n.
  predicted = dict(rows)
  predicted[positives[0]] = "false"
  out = tmp_path / "test.tsv"
  task.write_predictions(gold, predicted, str(out))
  scores = task.score_files(gold, str(out))
  n = len(positives)
  assert scores["precision"] == pytest.approx(1.0)
  assert scores["recall"] == pytest.approx((n - 1) / n)
  assert scores["value"] == pytest.approx(2 * (n - 1) / n / (1 + (n - 1) / n))


def test_prediction_file_of_other_rows_is_an_error(tmp_path):
  task = tasks.TASKS["chemprot"]
  gold = os.path.join(SAMPLE_DIR, "chemprot", "test.tsv")
  other = os.path.join(SAMPLE_DIR, "chemprot", "dev.tsv")
  with pytest.raises(DataError, match="rows are not those of the gold"):
    task.score_files(gold, other)


def test_evaluate_cli_prints_one_json_object():
  gold = os.path.join(SAMPLE_DIR, "hoc", "test.tsv")
  out = subprocess.run(
      [sys.executable, "-m", "bluebert_mtl.commands.evaluate", "--task=hoc",
       f"--gold_file={gold}", f"--pred_file={gold}"],
      cwd=REPO_ROOT, check=True, capture_output=True, text=True).stdout
  result = json.loads(out)
  assert list(result)[:3] == ["task", "metric", "value"]
  assert result["value"] == 1.0 and result["documents"] == 3


def _definition(tmp_path, text):
  path = tmp_path / "task.yaml"
  path.write_text(text)
  return str(path)


def test_user_task_definition_adds_a_task(tmp_path):
  path = _definition(tmp_path, """
name: my-relations
type: classification
format: relation
labels: [binds, inhibits, none]
metric: micro_f1
negative_label: none
""")
  registry = tasks.registry_with([path])
  task = tasks.get_task("my-relations", registry)
  assert task.labels == ("binds", "inhibits", "none")
  assert task.negative_label == "none" and task.kind == "classification"
  assert "chemprot" in registry


@pytest.mark.parametrize("text, message", [
    ("name: x\ntype: classification\nformat: relation\nmetric: accuracy\n",
     "needs labels"),
    ("name: x\ntype: sorting\nformat: relation\nmetric: accuracy\nlabels: [a]\n",
     "unknown type 'sorting'"),
    ("name: x\ntype: classification\nformat: relation\nmetric: micro_f1\n"
     "labels: [a, b]\n", "needs a negative_label"),
    ("name: x\ntype: regression\nformat: sts\nmetric: pearson\ncolour: red\n",
     "unknown keys"),
    ("name: x\ntype: regression\n", "missing keys"),
    ("- a list\n", "YAML mapping"),
])
def test_bad_task_definitions_name_the_file(tmp_path, text, message):
  path = _definition(tmp_path, text)
  with pytest.raises(ConfigError, match=message) as error:
    tasks.load_task_definition(path)
  assert path in str(error.value)


def test_unknown_task_and_clash_with_a_blue_task(tmp_path):
  with pytest.raises(ConfigError, match="unknown task 'nope'"):
    tasks.get_task("nope")
  path = _definition(tmp_path, "name: hoc\ntype: regression\nformat: sts\n"
                     "metric: pearson\n")
  with pytest.raises(ConfigError, match="already exists"):
    tasks.registry_with([path])
