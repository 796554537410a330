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


# --- NER prediction files are matched to gold files by position ---

_CONLL_SENTENCES = (
    (("Naloxone", "B-Chemical"), ("reverses", "O"), ("clonidine", "B-Chemical"),
     (".", "O")),
    (("Lithium", "B-Chemical"), ("toxicity", "O")),
    (("Cisplatin", "B-Chemical"), ("induced", "O"), ("nephrotoxicity", "O")),
)


def _conll(path, sentences):
  """A 2-column CoNLL file: one `word<TAB>tag` line per word, a blank line
  after each sentence."""
  path.write_text("".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n"
                          for s in sentences))
  return str(path)


def _blue_ner(path, rows):
  """A BLUE 4-column file from (word, docid, offset, tag) rows; None ends a
  sentence."""
  path.write_text("".join("\n" if row is None else "\t".join(row) + "\n"
                          for row in rows))
  return str(path)


def test_conll_prediction_file_of_any_name_scores(tmp_path):
  task = tasks.TASKS["bc5cdr-chemical"]
  gold = _conll(tmp_path / "test.tsv", _CONLL_SENTENCES)
  copy = tmp_path / "my_predictions.txt"
  copy.write_bytes(open(gold, "rb").read())
  assert task.score_files(gold, str(copy))["value"] == 1.0
  # Cisplatin missed: 3 of the 4 gold mentions found, none wrong:
  # P = 1, R = 3/4, F1 = 2 * 3/4 / (1 + 3/4) = 6/7.
  missed = [list(s) for s in _CONLL_SENTENCES]
  missed[2][0] = ("Cisplatin", "O")
  scores = task.score_files(gold, _conll(tmp_path / "run_a.tsv", missed))
  assert scores["precision"] == 1.0 and scores["recall"] == 0.75
  assert scores["value"] == pytest.approx(6 / 7)


@pytest.mark.parametrize("sentences, line, message", [
    # The second sentence left out: the third stands where it was.
    ((_CONLL_SENTENCES[0], _CONLL_SENTENCES[2]), 6,
     r"sentence 2 'Cisplatin induced nephrotoxicity' is not the gold file's "
     r"sentence 2 \(.*test\.tsv:6\) 'Lithium toxicity'"),
    (_CONLL_SENTENCES + ((("Aspirin", "O"),),), 13,
     r"sentence 4: the gold file .*test\.tsv has 3 sentences"),
    (_CONLL_SENTENCES[:2], 6,
     r"ends with sentence 2; the gold file has 3 \(sentence 3 at "
     r".*test\.tsv:9\)"),
])
def test_prediction_file_of_other_sentences_is_refused(tmp_path, sentences,
                                                       line, message):
  task = tasks.TASKS["bc5cdr-chemical"]
  gold = _conll(tmp_path / "test.tsv", _CONLL_SENTENCES)
  predicted = _conll(tmp_path / "predicted.tsv", sentences)
  with pytest.raises(DataError, match=message) as error:
    task.score_files(gold, predicted)
  assert error.value.path == predicted and error.value.line == line


_BLUE_ROWS = [("Naloxone", "100", "0", "B"), ("reverses", "-", "9", "O"), None,
              ("Lithium", "-", "20", "B"), ("toxicity", "-", "28", "O"), None,
              ("Lithium", "200", "0", "B"), ("toxicity", "-", "8", "O"), None]


def test_blue_prediction_file_matches_document_ids(tmp_path):
  task = tasks.TASKS["bc5cdr-chemical"]
  gold = _blue_ner(tmp_path / "test.tsv", _BLUE_ROWS)
  assert [e.document for e in task.read(gold)] == ["100", "100", "200"]
  copy = _blue_ner(tmp_path / "out.tsv", _BLUE_ROWS)
  assert task.score_files(gold, copy)["value"] == 1.0
  # A CoNLL file of the same words has no document ids to check.
  conll = _conll(tmp_path / "out.conll", [
      [("Naloxone", "B-Chemical"), ("reverses", "O")],
      [("Lithium", "B-Chemical"), ("toxicity", "O")],
      [("Lithium", "O"), ("toxicity", "O")]])
  assert task.score_files(gold, conll)["recall"] == pytest.approx(2 / 3)
  # Sentences 2 and 3 have the same words; the document ids tell them apart.
  swapped = (_BLUE_ROWS[:3] + [("Lithium", "200", "0", "B"),
                               ("toxicity", "-", "8", "O"), None,
                               ("Lithium", "100", "20", "B"),
                               ("toxicity", "-", "28", "O"), None])
  other = _blue_ner(tmp_path / "swapped.tsv", swapped)
  with pytest.raises(DataError, match=r"sentence 2 is document\.offset "
                     r"'200\.0', the gold file's sentence 2 \(.*:4\) is "
                     r"'100\.20'") as error:
    task.score_files(gold, other)
  assert (error.value.path, error.value.line) == (other, 4)


def test_evaluate_cli_refuses_other_sentences_in_one_line(tmp_path):
  gold = _conll(tmp_path / "test.tsv", _CONLL_SENTENCES)
  predicted = _conll(tmp_path / "predicted.tsv", _CONLL_SENTENCES[1:])
  result = subprocess.run(
      [sys.executable, "-m", "bluebert_mtl.commands.evaluate",
       "--task=bc5cdr-chemical", f"--gold_file={gold}",
       f"--pred_file={predicted}"],
      cwd=REPO_ROOT, capture_output=True, text=True)
  assert result.returncode == 2 and not result.stdout
  assert "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith(
      f"error: data: {predicted}:1: sentence 1 'Lithium toxicity' is not")
