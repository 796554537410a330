"""predict.py / serve/predictor.py: prediction on new text with a trained run.

One short run on the sample data of a task of each kind (biosses
regression, mednli pair classification, chemprot relation classification,
hoc multi-label, bc5cdr-chemical tagging) with max_seq_length 32, so that
truncation happens, is shared by every test. Its own predictions/ files are
the reference of the equality tests; the NER offset tests use a copy whose
tagging head says I-Chemical everywhere, so every text has mentions whose
spans are known by hand.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl import Predictor
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import ConfigError, DataError
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl.train import trainer as trainer_lib
from bluebert_mtl.train.start import Start
from conftest import REPO_ROOT, SAMPLE_DIR
import reference_tokenizer

TASKS = ("biosses", "mednli", "chemprot", "hoc", "bc5cdr-chemical")
MAX_SEQ_LENGTH = 32
# The field of a result that holds what the prediction file holds.
LABEL_FIELD = {"regression": "score", "classification": "label",
               "multilabel": "labels", "tagging": "tags"}
SENTENCE = "Aspirin-induced asthma."


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_bert_dir):
  output = str(tmp_path_factory.mktemp("predict") / "run")
  trainer_lib.train(
      TrainConfig(tasks=TASKS, data_dir=SAMPLE_DIR, output_dir=output,
                  max_seq_length=MAX_SEQ_LENGTH, train_batch_size=8,
                  learning_rate=1e-3, max_steps=10, eval_every_epochs=0,
                  distribution_strategy="one_device"),
      Start(BertFiles.resolve(bert_dir=tiny_bert_dir)),
      [tasks_lib.TASKS[name] for name in TASKS])
  return output


@pytest.fixture(scope="module")
def predictor(run):
  return Predictor.from_run(run)


@pytest.fixture(scope="module")
def inside_tagger(run, tmp_path_factory):
  """A copy of the run whose NER head tags every word I-Chemical."""
  copy = str(tmp_path_factory.mktemp("inside") / "run")
  shutil.copytree(run, copy)
  task = tasks_lib.TASKS["bc5cdr-chemical"]
  prefix = run_dir.best_weights(copy, task.name)
  _, encoder = checkpoints.load_bert_encoder(BertFiles(
      os.path.join(copy, run_dir.BERT_CONFIG), None,
      os.path.join(copy, run_dir.VOCAB)))
  model = multitask_model.build_multitask_model(encoder, [task])
  multitask_model.model_checkpoint(model).read(prefix).expect_partial()
  head = model.get_layer(task.name).dense
  head.kernel.assign(np.zeros(head.kernel.shape, np.float32))
  head.bias.assign(np.array([0.0, 0.0, 10.0], np.float32))  # O, B-, I-
  multitask_model.model_checkpoint(model).write(prefix)
  return Predictor.from_run(copy, [task.name])


def _labels(results, task):
  field = LABEL_FIELD[task.kind]
  return [tuple(r[field]) if isinstance(r[field], list) else r[field]
          for r in results]


def _gold_file(task, split):
  return os.path.join(SAMPLE_DIR, task.name, f"{split}.tsv")


def _run_labels(run, task, split):
  """The labels of the run's own prediction file."""
  examples = task.read(os.path.join(run, run_dir.PREDICTIONS,
                                    f"{task.name}_{split}.tsv"))
  return [ex.tags if task.kind == "tagging" else ex.label for ex in examples]


def _predict_file(predictor, path, out, input_format, name):
  predictor.predict_file(path, out, input_format, [name])
  with open(out, encoding="utf-8") as f:
    return [json.loads(line) for line in f]


@pytest.mark.parametrize("name", TASKS)
def test_blue_files_give_the_runs_own_predictions(run, predictor, tmp_path,
                                                   name):
  task = predictor.tasks[name]
  for split in ("dev", "test"):
    lines = _predict_file(predictor, _gold_file(task, split),
                          str(tmp_path / f"{split}.jsonl"), "auto", name)
    assert [line["id"] for line in lines] == [
        ex.guid for ex in task.read(_gold_file(task, split))]
    assert _labels([line[name] for line in lines], task) == _run_labels(
        run, task, split)


@pytest.mark.parametrize("name", ["biosses", "mednli", "chemprot", "hoc"])
def test_text_and_jsonl_give_the_runs_own_labels(run, predictor, tmp_path,
                                                 name):
  task = predictor.tasks[name]
  examples = task.read(_gold_file(task, "test"))
  texts = [tuple(t for t in (ex.text_a, ex.text_b) if t is not None)
           for ex in examples]
  (tmp_path / "in.txt").write_text(
      "".join("\t".join(t) + "\n" for t in texts), encoding="utf-8")
  keys = ("text",) if len(texts[0]) == 1 else ("text_a", "text_b")
  (tmp_path / "in.jsonl").write_text("".join(
      json.dumps(dict(zip(keys, t), id=ex.guid)) + "\n"
      for ex, t in zip(examples, texts)), encoding="utf-8")
  want = _run_labels(run, task, "test")
  for path, input_format in (("in.txt", "text"), ("in.jsonl", "auto")):
    lines = _predict_file(predictor, str(tmp_path / path),
                          str(tmp_path / "out.jsonl"), input_format, name)
    assert _labels([line[name] for line in lines], task) == want
  assert [line["id"] for line in lines] == [ex.guid for ex in examples]


def test_results_of_every_kind(predictor):
  text, pair = "the aspirin reduced the pain", ("the pain", "no pain")
  (score,) = predictor.predict([pair], "biosses")
  assert set(score) == {"score", "truncated"}
  assert isinstance(score["score"], float)
  for name, item in (("chemprot", text), ("mednli", pair)):
    (result,) = predictor.predict([item], name)
    probabilities = result["probabilities"]
    assert list(probabilities) == list(predictor.tasks[name].labels)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert result["label"] == max(probabilities, key=probabilities.get)
  (hoc,) = predictor.predict([text], "hoc")
  assert list(hoc["probabilities"]) == list(tasks_lib.HOC_HALLMARKS)
  assert set(hoc["labels"]) == {
      name for name, p in hoc["probabilities"].items() if p > 0.5}
  (ner,) = predictor.predict([SENTENCE], "bc5cdr-chemical")
  assert ner["words"] == ["Aspirin", "-", "induced", "asthma", "."]
  assert len(ner["tags"]) == 5
  assert set(ner["tags"]) <= {"O", "B-Chemical", "I-Chemical"}


def test_xla_forward_pass_gives_the_same_results(run, predictor):
  xla = Predictor.from_run(run, ["chemprot", "bc5cdr-chemical"],
                           jit_compile=True)
  texts = ["the aspirin reduced the pain", SENTENCE,
           "a longer sentence about cisplatin and the kidneys of rats"]
  for name in ("chemprot", "bc5cdr-chemical"):
    plain, compiled = predictor.predict(texts, name), xla.predict(texts, name)
    for a, b in zip(plain, compiled):
      assert a.get("label") == b.get("label") and a.get("tags") == b.get("tags")
      if "probabilities" in a and name == "chemprot":
        for label, p in a["probabilities"].items():
          assert b["probabilities"][label] == pytest.approx(p, abs=1e-5)


def test_ner_mentions_slice_the_input(inside_tagger):
  texts = [SENTENCE,
           "  Naloxone\treverses\u00a0the (clonidine)\u200b effect. ",
           "Li\u2082CO\u2083 and caf\u00e9ine, 5-HT\u2083 \u4e2d\u6587"]
  results = inside_tagger.predict(texts, "bc5cdr-chemical")
  assert results[0] == {
      "words": ["Aspirin", "-", "induced", "asthma", "."],
      "tags": ["I-Chemical"] * 5,
      "entities": [{"text": SENTENCE, "type": "Chemical", "start": 0,
                    "end": 23}],
      "truncated": False}
  for text, result in zip(texts, results):
    (entity,) = result["entities"]
    assert text[entity["start"]:entity["end"]] == entity["text"]
    assert entity["text"] == text.strip(" \u200b")
    assert [w for word in result["words"]
            for w in reference_tokenizer.basic_tokenize(word, True)] == (
                reference_tokenizer.basic_tokenize(text, True))


def test_long_ner_text_is_cut_into_pieces_and_truncated(inside_tagger,
                                                        tiny_bert_dir):
  # 45 one-piece words: pieces of 30 and 15 words; 30 words and [CLS],
  # [SEP] fill max_seq_length 32 exactly, so nothing is cut.
  words = ["the"] * 45
  (whole,) = inside_tagger.predict([" ".join(words)], "bc5cdr-chemical")
  assert whole["tags"] == ["I-Chemical"] * 45
  # Mentions are read on the joined tags: this one runs across the cut.
  assert [e["text"] for e in whole["entities"]] == [" ".join(words)]
  assert whole["truncated"] is False
  # A word of k pieces first: the last k - 1 words of the piece lose their
  # sub-tokens and are tagged O, as in training; the rest goes on.
  with open(os.path.join(tiny_bert_dir, "vocab.txt"), encoding="utf-8") as f:
    vocab = {token: i for i, token in enumerate(f.read().split("\n"))}
  k = len(reference_tokenizer.ReferenceTokenizer(list(vocab)).tokenize(
      "amifostine"))
  assert k > 1
  text = " ".join(["amifostine"] + ["the"] * 34)
  (cut,) = inside_tagger.predict([text], "bc5cdr-chemical")
  assert cut["tags"] == (["I-Chemical"] * (31 - k) + ["O"] * (k - 1) +
                         ["I-Chemical"] * 5)
  assert cut["truncated"] is True
  assert [e["text"] for e in cut["entities"]] == [
      " ".join(["amifostine"] + ["the"] * (30 - k)), "the the the the the"]


def test_over_long_texts_are_truncated_and_marked(predictor):
  the = lambda n: " ".join(["the"] * n)  # one WordPiece a word
  fits, cut = predictor.predict([the(30), the(31)], "chemprot")
  assert (fits["truncated"], cut["truncated"]) == (False, True)
  assert cut["probabilities"] == fits["probabilities"]  # the same 30 tokens
  # A pair: [CLS] a [SEP] b [SEP], 29 tokens fit.
  fits, cut = predictor.predict([(the(15), the(14)), (the(15), the(15))],
                                "biosses")
  assert (fits["truncated"], cut["truncated"]) == (False, True)


def test_empty_lines_give_empty_results(predictor, tmp_path):
  path = tmp_path / "in.txt"
  path.write_text(f"{SENTENCE}\n\n \t \n{SENTENCE}", encoding="utf-8")
  lines = _predict_file(predictor, str(path), str(tmp_path / "out.jsonl"),
                        "text", "bc5cdr-chemical")
  assert [line["id"] for line in lines] == [1, 2, 3, 4]
  assert lines[1] == {"id": 2, "bc5cdr-chemical": {}}
  assert lines[2] == {"id": 3, "bc5cdr-chemical": {}}
  assert lines[3] == dict(lines[0], id=4)
  assert predictor.predict(["", "x"], "chemprot")[0] == {}


def test_relation_entities_are_masked_as_blue(predictor):
  text = "Aspirin reduced COX-2 expression."
  masked, premasked = predictor.predict([
      {"text": text, "entities": [{"start": 0, "end": 7, "type": "chemical"},
                                  {"start": 16, "end": 21, "type": "gene"}]},
      "@CHEMICAL$ reduced @GENE$ expression."], "chemprot")
  assert masked == premasked
  unmasked = predictor.predict([text], "chemprot")[0]
  assert unmasked["probabilities"] != masked["probabilities"]


def test_windows_keep_the_input_order(predictor, tmp_path):
  texts = [SENTENCE, "the pain", " ".join(["the"] * 40), "COX-2 rose .",
           "", "lithium carbonate was given", "a b c d e f", "x"]
  path = tmp_path / "in.txt"
  path.write_text("\n".join(texts) + "\n", encoding="utf-8")
  whole = _predict_file(predictor, str(path), str(tmp_path / "one.jsonl"),
                        "text", "bc5cdr-chemical")
  window, predictor.window = predictor.window, 3
  try:
    windowed = _predict_file(predictor, str(path),
                             str(tmp_path / "three.jsonl"), "text",
                             "bc5cdr-chemical")
  finally:
    predictor.window = window
  assert [line["id"] for line in windowed] == list(range(1, 9))
  assert windowed == whole


def test_bad_input_stops_before_writing(predictor, tmp_path):
  out = tmp_path / "out.jsonl"
  out.write_text("older\n")
  path = tmp_path / "in.jsonl"
  path.write_text('{"text": "fine"}\n{"text": "cut\n', encoding="utf-8")
  with pytest.raises(DataError, match=f"{path}:2: not JSON"):
    predictor.predict_file(str(path), str(out), "auto", ["chemprot"])
  assert out.read_text() == "older\n"
  assert sorted(os.listdir(tmp_path)) == ["in.jsonl", "out.jsonl"]


def test_what_is_no_run_or_no_task(run, tmp_path):
  with pytest.raises(ConfigError, match="task 'ddi2013-type' is not one of "
                     f"the run {run}"):
    Predictor.from_run(run, ["chemprot", "ddi2013-type"])
  with pytest.raises(ConfigError, match=f"{tmp_path} is not a training run "
                     "folder: no tasks.json"):
    Predictor.from_run(str(tmp_path))
  with pytest.raises(ConfigError, match="neither a run folder nor"):
    Predictor.from_run(str(tmp_path / "nothing"))
  with pytest.raises(ConfigError, match=r"--max_seq_length=513 must be in "
                     r"\[3, 512\]"):
    Predictor.from_run(run, ["chemprot"], max_seq_length=513)


def _command(args, **kwargs):
  return subprocess.run([sys.executable] + args, capture_output=True,
                        text=True, check=False, cwd=REPO_ROOT, **kwargs)


def test_command_line(run, tmp_path):
  path = tmp_path / "in.txt"
  path.write_text(f"{SENTENCE}\n\nthe pain\n", encoding="utf-8")
  done = _command(["predict.py", f"--model_dir={run}",
                   "--tasks=bc5cdr-chemical,chemprot",
                   f"--input_file={path}", "--output_file=-"])
  assert done.returncode == 0, done.stderr[-2000:]
  lines = [json.loads(line) for line in done.stdout.splitlines()]
  assert [line["id"] for line in lines] == [1, 2, 3]
  assert list(lines[0]) == ["id", "bc5cdr-chemical", "chemprot"]
  assert "prediction: " not in done.stderr  # no bar: stderr is a pipe
  bad = tmp_path / "bad.txt"
  bad.write_bytes(b"fine\nnot \xe9 utf-8\n")
  out = tmp_path / "out.jsonl"
  done = _command(["-m", "bluebert_mtl.commands.predict",
                   f"--model_dir={run}", "--tasks=chemprot",
                   f"--input_file={bad}", f"--output_file={out}"])
  assert done.returncode == 2 and "Traceback" not in done.stderr
  assert done.stderr.strip().splitlines()[-1] == (
      f"error: data: {bad}:2: not UTF-8: byte 0xe9 at byte 5 of the line")
  assert sorted(os.listdir(tmp_path)) == ["bad.txt", "in.txt"]


def test_importing_the_package_stays_cheap():
  done = _command(["-c", "import sys, bluebert_mtl; "
                   "print('tensorflow' in sys.modules, "
                   "sys.modules['os'].environ['TF_USE_LEGACY_KERAS'])"])
  assert done.stdout.split() == ["False", "1"], done.stderr
