"""export_savedmodel.py / bluebert_mtl.serve.export: the exports load as TF Serving
loads them and predict what the training-time pipeline predicts.

One tiny run (real BERT vocab, 2 layers of width 16, max_seq_length 32 so
truncation happens) on the sample data of one task of each kind, whose best
weights are then made to differ from its final ones. Every export is loaded
in a fresh process importing only TensorFlow (and TF Text for the raw-text
models); its outputs are compared with the package's own featurization,
model and decoding (`task_data`, `inference.predict`) on the same texts.
"""

import csv
import dataclasses
import json
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import inference
from bluebert_mtl.serve import export
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl.data import task_data
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl import tokenization
from bluebert_mtl.train import trainer as trainer_lib
from bluebert_mtl.train.start import Start
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import CheckpointError, ConfigError
from conftest import REPO_ROOT, SAMPLE_DIR
import numpy_bert
import reference_tokenizer

TASKS = ("biosses", "mednli", "chemprot", "hoc", "bc5cdr-chemical")
MAX_SEQ_LENGTH = 32
TINY = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 32, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 64, "type_vocab_size": 2,
        "initializer_range": 0.02}
PRE = "preprocess"
ENCODER_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")

# The documented signatures (bluebert_mtl/serve/export.py, docs/serving.md):
# name -> (dtype, shape), -1 for an open dimension.
_S, _F, _I, _B = "string", "float32", "int32", "bool"
TEXT = {"text": (_S, [-1])}
PAIR = {"text_a": (_S, [-1]), "text_b": (_S, [-1])}
IDS = {name: (_I, [-1, -1]) for name in ENCODER_INPUTS}
EXPECTED_SIGNATURES = {
    "biosses": (PAIR, {"score": (_F, [-1])}, {"score": (_F, [-1])}),
    "mednli": (PAIR,
               {"label": (_S, [-1]), "probabilities": (_F, [-1, 3])},
               {"label": (_S, [-1]), "probabilities": (_F, [-1, 3]),
                "logits": (_F, [-1, 3])}),
    "chemprot": (TEXT,
                 {"label": (_S, [-1]), "probabilities": (_F, [-1, 6])},
                 {"label": (_S, [-1]), "probabilities": (_F, [-1, 6]),
                  "logits": (_F, [-1, 6])}),
    "hoc": (TEXT,
            {"probabilities": (_F, [-1, 10]), "predicted": (_B, [-1, 10]),
             "labels": (_S, [-1, 10])},
            {"probabilities": (_F, [-1, 10]), "predicted": (_B, [-1, 10]),
             "labels": (_S, [-1, 10]), "logits": (_F, [-1, 10])}),
    "bc5cdr-chemical": (
        TEXT,
        {"tags": (_S, [-1, -1]), "num_words": (_I, [-1]),
         "probabilities": (_F, [-1, -1, 3])},
        {"token_tags": (_S, [-1, -1]), "probabilities": (_F, [-1, -1, 3]),
         "logits": (_F, [-1, -1, 3])}),
}
PREPROCESS_OUTPUTS = {
    name: dict(IDS, **({"text_index": (_I, [-1]), "num_words": (_I, [-1]),
                        "word_positions": (_I, [-1, 30])}
                       if name == "bc5cdr-chemical" else {}))
    for name in TASKS}

# Run in a fresh process, as TF Serving would load the models: only
# TensorFlow (and TF Text where argv[3] says so), never bluebert_mtl.
# argv: jobs JSON, results pickle, "text" or "ids". A job: [key, model
# folder, signature, inputs]; inputs are lists, or the name of an earlier
# job whose encoder-input outputs are fed. Each signature runs twice: as
# tf.saved_model.load gives it (key), and in a TF1 session from the
# SavedModel's signature_def, as TF Serving's C++ loader runs it
# (key + "/session"; one session a model).
_LOADER = r"""
import json, pickle, sys
import tensorflow as tf
if sys.argv[3] == "text":
  import tensorflow_text  # registers the tokenizer's ops
jobs = json.load(open(sys.argv[1]))
models, results, specs = {}, {}, {}
def spec(s):
  return (s.dtype.name, [-1 if d is None else d for d in s.shape.as_list()])
sessions = {}
def in_session(folder, signature, inputs):
  if folder not in sessions:
    session = tf.compat.v1.Session(graph=tf.Graph())
    with session.graph.as_default():
      sessions[folder] = (session, tf.compat.v1.saved_model.load(
          session, ["serve"], folder))
  session, meta_graph = sessions[folder]
  signature = meta_graph.signature_def[signature]
  names = sorted(signature.outputs)
  values = session.run(
      [signature.outputs[k].name for k in names],
      {signature.inputs[k].name: v.numpy() for k, v in inputs.items()})
  return dict(zip(names, values))
for key, folder, signature, inputs in jobs:
  if folder not in models:
    models[folder] = tf.saved_model.load(folder)
  function = models[folder].signatures[signature]
  if isinstance(inputs, str):
    inputs = {k: v for k, v in results[inputs].items()
              if k in ("input_word_ids", "input_mask", "input_type_ids")}
  inputs = {k: tf.constant(v, tf.string if k.startswith("text") else tf.int32)
            for k, v in inputs.items()}
  results[key] = {k: v.numpy() for k, v in function(**inputs).items()}
  results[key + "/session"] = in_session(folder, signature, inputs)
  specs[key] = ({k: spec(s) for k, s in
                 function.structured_input_signature[1].items()},
                {k: spec(s) for k, s in function.structured_outputs.items()})
modules = sorted(m for m in ("bluebert_mtl", "tensorflow_text")
                 if m in sys.modules)
pickle.dump((results, specs, modules), open(sys.argv[2], "wb"))
"""


def _start(args, cwd) -> subprocess.Popen:
  """A process in the background, without this test's PYTHONPATH."""
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env.update(TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> str:
  """The process's standard output, once it has ended well."""
  stdout, stderr = process.communicate()
  assert process.returncode == 0, stderr[-3000:]
  return stdout


def _start_loader(folder, name, jobs, mode):
  """`_LOADER` on the jobs in a new Python; `_loaded` gives its results."""
  jobs_file, out_file = folder / f"{name}.json", folder / f"{name}.pkl"
  jobs_file.write_text(json.dumps(jobs))
  return _start([sys.executable, "-c", _LOADER, str(jobs_file),
                 str(out_file), mode], folder), out_file


def _loaded(started):
  process, out_file = started
  _finish(process)
  with open(out_file, "rb") as f:
    return pickle.load(f)


def _strings(array) -> np.ndarray:
  return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array)


# ------------------------------------------------------------ the texts


def _sample_examples(name):
  task = tasks_lib.TASKS[name]
  return [ex for split in ("dev", "test")
          for ex in task.read(os.path.join(SAMPLE_DIR, name, f"{split}.tsv"))]


def _long(words: int, start: int = 0) -> str:
  vocab = ("cisplatin induced renal toxicity was reduced by amifostine in "
           "rats with acute kidney injury").split()
  return " ".join(vocab[(start + i) % len(vocab)] for i in range(words))


def _pairs(name):
  """Sample pairs plus pairs that truncation cuts: a long, b long, both."""
  pairs = [(ex.text_a, ex.text_b) for ex in _sample_examples(name)]
  return pairs + [(_long(40), "short one"), ("short", _long(25, 3)),
                  (_long(20, 1), _long(21, 2)), (_long(9), "")]


def _ner_texts(blue_public_dir):
  """Sample sentences, the words of 20 real BC5CDR sentences as one text,
  odd whitespace, a word that has no sub-token, and an empty text last."""
  texts = [" ".join(ex.words) for ex in _sample_examples("bc5cdr-chemical")]
  real = tasks_lib.TASKS["bc5cdr-chemical"].read(
      os.path.join(blue_public_dir, "bc5cdr-chemical", "test.tsv"))[:20]
  texts.append(" ".join(w for ex in real for w in ex.words))
  texts.append("  Naloxone\treverses\u00a0the \n clonidine \u200b effect ")
  return texts + [""]


@pytest.fixture(scope="module")
def texts(blue_public_dir):
  """task -> list of texts (pairs for pair tasks), mixed lengths."""
  chemprot = tasks_lib.TASKS["chemprot"].read(
      os.path.join(blue_public_dir, "chemprot", "test.tsv"))[:20]
  return {
      "biosses": _pairs("biosses"),
      "mednli": _pairs("mednli"),
      "chemprot": ([ex.text_a for ex in _sample_examples("chemprot")] +
                   [ex.text_a for ex in chemprot] + [_long(50)]),
      "hoc": [ex.text_a for ex in _sample_examples("hoc")] + [_long(45)],
      "bc5cdr-chemical": _ner_texts(blue_public_dir),
  }


def _inputs(name, rows) -> dict:
  if tasks_lib.TASKS[name].is_pair:
    return {"text_a": [a for a, _ in rows], "text_b": [b for _, b in rows]}
  return {"text": list(rows)}


# ------------------------------------------------------------ the run


@pytest.fixture(scope="module")
def run(tmp_path_factory, minilm_dir):
  """A trained run folder whose best weights differ from its final ones."""
  root = tmp_path_factory.mktemp("run")
  bert = root / "bert"
  bert.mkdir()
  config = dict(TINY, vocab_size=30522)
  (bert / "bert_config.json").write_text(json.dumps(config))
  (bert / "vocab.txt").write_bytes(
      open(os.path.join(minilm_dir, "vocab.txt"), "rb").read())
  numpy_bert.write_tf1_checkpoint(numpy_bert.random_tf1_weights(config),
                                  str(bert / "bert_model.ckpt"))
  output = str(root / "run")
  trainer_lib.train(
      TrainConfig(tasks=TASKS, data_dir=SAMPLE_DIR, output_dir=output,
                  max_seq_length=MAX_SEQ_LENGTH, train_batch_size=8,
                  learning_rate=1e-3, max_steps=10, eval_every_epochs=0,
                  distribution_strategy="one_device"),
      Start(BertFiles.resolve(bert_dir=str(bert))),
      [tasks_lib.TASKS[name] for name in TASKS])
  model = _run_model(output, list(TASKS), run_dir.final_weights(output))
  for name in TASKS:
    kernel = model.get_layer(name).dense.kernel
    kernel.assign(kernel * 3.0 + 0.05)
  for name in TASKS:
    multitask_model.model_checkpoint(model).write(
        run_dir.best_weights(output, name))
  return output


def _run_model(output, names, checkpoint):
  """The run's model of some tasks with a checkpoint's weights, built and
  read the way training builds and reads it."""
  _, encoder = checkpoints.load_bert_encoder(BertFiles(
      os.path.join(output, run_dir.BERT_CONFIG), None,
      os.path.join(output, run_dir.VOCAB)))
  model = multitask_model.build_multitask_model(
      encoder, [tasks_lib.TASKS[name] for name in names])
  multitask_model.model_checkpoint(model).read(checkpoint).expect_partial()
  return model


def _write_task_file(name, rows, path):
  """The texts as an unlabelled test file of the task's format."""
  task = tasks_lib.TASKS[name]
  if task.kind == "tagging":
    with open(path, "w", encoding="utf-8") as f:
      f.write("".join("\n".join(text.split()) + "\n\n" for text in rows))
    return
  header, fields = {
      "sts": (["index", "sentence1", "sentence2"], list),
      "mednli": (["pairID", "sentence1", "sentence2"], list),
      "relation": (["index", "sentence"], lambda text: [text]),
      "hoc": (["sentence", "index"], lambda text: [text]),
  }[task.file_format]
  with open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    for i, row in enumerate(rows):
      values = fields(row)
      writer.writerow(values + [f"9{i}_s0"] if task.file_format == "hoc"
                      else [f"row{i}"] + values)


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _training_time(output, name, rows, checkpoint, folder):
  """What the training-time pipeline makes of the texts.

  Returns:
    (SplitData, model outputs one per feature, guid -> predicted label);
    guids follow the order of `rows`.
  """
  task = tasks_lib.TASKS[name]
  config = run_dir.read_train_config(output)
  path = os.path.join(folder, name, "test.tsv")  # the split that may be
  os.makedirs(os.path.dirname(path))            # unlabelled
  _write_task_file(name, [r for r in rows if r], path)
  split = task_data.load_split(
      task, path, tokenization.FullTokenizer(
          os.path.join(output, run_dir.VOCAB), config.do_lower_case),
      config.max_seq_length, second_text_first=config.second_text_first)
  model = _run_model(output, [name], checkpoint)
  outputs = inference.predict(inference.make_predict_step(
      multitask_model.task_model(model, task.name)), split,
                             inference.token_budget(8, config.max_seq_length))
  return split, outputs, task_data.decode_predictions(task, split, outputs)


def _padded(features) -> dict:
  """Encoder inputs of features as int lists [R, T], 0-padded."""
  length = max(len(f.input_word_ids) for f in features)
  def pad(values):
    return list(values) + [0] * (length - len(values))
  return {"input_word_ids": [pad(f.input_word_ids) for f in features],
          "input_type_ids": [pad(f.input_type_ids) for f in features],
          "input_mask": [pad([1] * len(f.input_word_ids)) for f in features]}


@dataclasses.dataclass
class World:
  """What the tests read.

  Attributes:
    base: the CLI's default export of every task (version 1).
    written: the version folders the CLI printed.
    final: an ids-only export of chemprot's final weights (version 7).
    final_written: the folders export_run returned for it.
    reference: task -> `_training_time` with the task's best weights.
    final_reference: `_training_time` of chemprot with the final weights.
    results: job key -> outputs (`_LOADER`).
    specs: job key -> (inputs, outputs) as the loaded signature has them.
    listings: folder -> `saved_model_cli show --all` signatures.
  """
  base: str
  written: list
  final: str
  final_written: list
  reference: dict
  final_reference: tuple
  results: dict
  specs: dict
  listings: dict


LISTED = ("bc5cdr-chemical", PRE)


@pytest.fixture(scope="module")
def world(run, texts, tmp_path_factory):
  """Exports, loads them in fresh processes and computes the training-time
  side, the slow steps side by side."""
  tmp = tmp_path_factory.mktemp("serving")
  base, final = str(tmp / "all"), str(tmp / "final")
  cli = _start([sys.executable, "export_savedmodel.py", f"--model_dir={run}",
                f"--export_dir={base}"], REPO_ROOT)
  prefix = run_dir.final_weights(run)
  existing = os.path.join(final, "chemprot_ids", "7")
  os.makedirs(existing)
  open(os.path.join(existing, "marker"), "w").close()
  with pytest.raises(ConfigError,
                     match="version 7 of task chemprot exists already"):
    export.export_run(prefix, final, ["chemprot"], version=7, ids_only=True)
  assert os.listdir(final) == ["chemprot_ids"]
  final_written = export.export_run(prefix, final, ["chemprot"], version=7,
                                    ids_only=True, overwrite=True)
  folder = str(tmp / "reference")
  os.makedirs(folder)
  reference = {name: _training_time(run, name, texts[name],
                                    run_dir.best_weights(run, name), folder)
               for name in TASKS}
  final_reference = _training_time(run, "chemprot", texts["chemprot"],
                                   prefix, os.path.join(folder, "final"))
  written = _finish(cli).split()
  cli_binary = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  listings = {name: _start([cli_binary, "show", "--all", "--dir",
                            f"{base}/{name}/1"], tmp) for name in LISTED}
  text_jobs = []
  for name in TASKS:
    inputs = _inputs(name, texts[name])
    text_jobs += [
        [f"{name}/text", f"{base}/{name}/1", "serving_default", inputs],
        [f"{name}/pre", f"{base}/{PRE}/1", name, inputs],
        [f"{name}/ids", f"{base}/{name}/1", "serving_ids", f"{name}/pre"]]
  ids_jobs = [[f"{name}/ids_only", f"{base}/{name}_ids/1", "serving_default",
               _padded(reference[name][0].features)] for name in TASKS]
  ids_jobs.append(["final/ids_only", f"{final}/chemprot_ids/7", "serving_ids",
                   _padded(final_reference[0].features)])
  text_loader = _start_loader(tmp, "text", text_jobs, "text")
  ids_loader = _start_loader(tmp, "ids", ids_jobs, "ids")
  text_results, text_specs, text_modules = _loaded(text_loader)
  ids_results, ids_specs, ids_modules = _loaded(ids_loader)
  assert text_modules == ["tensorflow_text"]
  assert ids_modules == []
  return World(base, written, final, final_written, reference,
               final_reference, {**text_results, **ids_results},
               {**text_specs, **ids_specs},
               {name: _listed(_finish(p)) for name, p in listings.items()})


_DT = {"DT_STRING": _S, "DT_FLOAT": _F, "DT_INT32": _I, "DT_BOOL": _B}
_SIGNATURE = re.compile(r"signature_def\['([^']+)'\]:\n(.*?)Method name",
                        re.S)
_TENSOR = re.compile(r"(inputs|outputs)\['([^']+)'\] tensor_info:\n\s+dtype: "
                     r"(\w+)\n\s+shape: \(([-\d, ]*)\)")


def _listed(shown: str) -> dict:
  """signature -> (inputs, outputs) from `saved_model_cli show --all`."""
  signatures = {}
  for name, body in _SIGNATURE.findall(shown):
    if name.startswith("__"):
      continue
    found = {"inputs": {}, "outputs": {}}
    for side, tensor, dtype, shape in _TENSOR.findall(body):
      found[side][tensor] = (_DT[dtype], [int(d) for d in shape.split(",")
                                          if d.strip()])
    signatures[name] = (found["inputs"], found["outputs"])
  return signatures


# ------------------------------------------------------------ the tests


def test_written_folders(world):
  names = [PRE] + [n for name in TASKS for n in (name, name + "_ids")]
  assert sorted(world.written) == sorted(os.path.join(world.base, n, "1")
                                         for n in names)
  assert sorted(world.final_written) == [
      os.path.join(world.final, n, "7") for n in ("chemprot_ids", PRE)]
  for folder in world.written + world.final_written:
    assert os.path.isfile(os.path.join(folder, "saved_model.pb"))
  # No temporary left.
  assert sorted(os.listdir(world.base)) == sorted(
      names + ["models.config", "models_ids.config"])
  # The existing version 7 was replaced whole.
  assert not os.path.exists(os.path.join(world.final, "chemprot_ids", "7",
                                         "marker"))


def test_outputs_equal_training_time_predictions(world, texts):
  for name in ("biosses", "mednli", "chemprot", "hoc"):
    _, outputs, predicted = world.reference[name]
    guids = list(predicted)
    out = world.results[f"{name}/text"]
    assert len(guids) == len(texts[name])
    if name == "biosses":
      np.testing.assert_allclose(out["score"], [predicted[g] for g in guids],
                                 atol=1e-5)
      continue
    logits = np.stack(outputs)
    if name == "hoc":
      np.testing.assert_allclose(out["probabilities"],
                                 1 / (1 + np.exp(-logits)), atol=1e-5)
      labels = tasks_lib.TASKS["hoc"].labels
      assert out["predicted"].tolist() == [[n in predicted[g] for n in labels]
                                           for g in guids]
      assert [[n for n in row if n] for row in _strings(out["labels"])] == [
          list(predicted[g]) for g in guids]
    else:
      np.testing.assert_allclose(out["probabilities"], _softmax(logits),
                                 atol=1e-5)
      assert list(_strings(out["label"])) == [predicted[g] for g in guids]


def test_hoc_labels_are_left_aligned_and_padded(world):
  out = world.results["hoc/text"]
  for row, chosen in zip(_strings(out["labels"]), out["predicted"]):
    assert list(row[:chosen.sum()]) == [
        n for n, on in zip(tasks_lib.TASKS["hoc"].labels, chosen) if on]
    assert all(n == "" for n in row[chosen.sum():])
  assert out["predicted"].any() and not out["predicted"].all()


def _word_probabilities(split, outputs):
  """Softmax at each word's first sub-token, pieces re-joined per text."""
  rows = []
  for piece, feature, logits in zip(split.pieces, split.features, outputs):
    if piece.word_start == 0:
      rows.append([])
    rows[-1] += [_softmax(logits[p]) if p >= 0 else np.zeros(3)
                 for p in feature.word_positions]
  return rows


def test_ner_tags_equal_training_time_tags(world, texts):
  out = world.results["bc5cdr-chemical/text"]
  split, outputs, predicted = world.reference["bc5cdr-chemical"]
  tags, num_words = _strings(out["tags"]), out["num_words"]
  expected = [list(tags) for tags in predicted.values()]
  assert num_words.tolist() == [len(t.split())
                                for t in texts["bc5cdr-chemical"]]
  assert num_words[-1] == 0  # the empty text, left out of the file
  assert [list(t[:n]) for t, n in zip(tags, num_words)][:-1] == expected
  assert all(t == "" for row, n in zip(tags, num_words) for t in row[n:])
  assert {t for e in expected for t in e} > {"O"}
  for row, n, expected_row in zip(out["probabilities"], num_words,
                                  _word_probabilities(split, outputs)):
    np.testing.assert_allclose(row[:n], expected_row, atol=1e-5)
    assert not row[n:].any()
  # What the texts exercise: the real text makes pieces, some rows are full,
  # some words have no sub-token (cut, or only a zero-width space).
  assert tags.shape[1] == max(num_words) > 3 * 30
  assert max(len(f.input_word_ids) for f in split.features) == MAX_SEQ_LENGTH
  assert any(p < 0 for f in split.features for p in f.word_positions)


def test_preprocess_equals_training_featurization(world):
  for name in TASKS:
    split = world.reference[name][0]
    features = split.features
    pre = world.results[f"{name}/pre"]
    lengths = pre["input_mask"].sum(1)
    if name == "bc5cdr-chemical":
      # The empty text makes a [CLS] [SEP] row of its own, not in the file.
      assert lengths[-1] == 2 and pre["num_words"][-1] == 0
      assert pre["text_index"][-1] == len(split.examples)
      lengths = lengths[:-1]
      assert pre["text_index"][:-1].tolist() == [p.sentence_index
                                                 for p in split.pieces]
      for row, n, f in zip(pre["word_positions"], pre["num_words"], features):
        assert row[:n].tolist() == list(f.word_positions)
        assert (row[n:] == -1).all()
    assert lengths.tolist() == [len(f.input_word_ids) for f in features]
    for i, f in enumerate(features):
      n = len(f.input_word_ids)
      assert pre["input_word_ids"][i, :n].tolist() == list(f.input_word_ids)
      assert pre["input_type_ids"][i, :n].tolist() == list(f.input_type_ids)
      assert not pre["input_word_ids"][i, n:].any()
    assert lengths.max() == MAX_SEQ_LENGTH  # truncation happened


def test_text_and_ids_signatures_agree(world):
  results = world.results
  for name in ("biosses", "mednli", "chemprot", "hoc"):
    text, ids = results[f"{name}/text"], results[f"{name}/ids"]
    for key, value in text.items():
      if value.dtype.kind == "f":
        np.testing.assert_allclose(ids[key], value, atol=1e-6)
      else:
        assert ids[key].tolist() == value.tolist(), key
  pre = results["bc5cdr-chemical/pre"]
  token_tags = _strings(results["bc5cdr-chemical/ids"]["token_tags"])
  text = results["bc5cdr-chemical/text"]
  by_text = [[] for _ in text["num_words"]]
  for row, index in enumerate(pre["text_index"]):
    positions = pre["word_positions"][row, :pre["num_words"][row]]
    by_text[index] += [token_tags[row, p] if p >= 0 else "O"
                       for p in positions]
  assert by_text == [list(t[:n]) for t, n in zip(_strings(text["tags"]),
                                                 text["num_words"])]


def _assert_ids_outputs(out, reference, name):
  """Outputs of a serving_ids signature vs the training-time ones."""
  split, outputs, predicted = reference
  raw = out["score"] if name == "biosses" else out["logits"]
  for row, (feature, expected) in enumerate(zip(split.features, outputs)):
    n = len(feature.input_word_ids)
    np.testing.assert_allclose(raw[row, :n] if raw.ndim == 3 else raw[row],
                               expected[:n] if expected.ndim == 2 else
                               expected, atol=1e-5)
  if "label" in out:
    assert list(_strings(out["label"])) == list(predicted.values())


def test_ids_only_models_load_without_tf_text(world):
  for name in TASKS:
    _assert_ids_outputs(world.results[f"{name}/ids_only"],
                        world.reference[name], name)


def test_checkpoint_prefix_exports_those_weights(world):
  out = world.results["final/ids_only"]
  _assert_ids_outputs(out, world.final_reference, "chemprot")
  best = world.results["chemprot/ids_only"]["logits"]
  assert np.abs(best - out["logits"]).max() > 1e-2  # best is not final


def test_session_runs_equal_eager_runs(world):
  keys = [k for k in world.results if not k.endswith("/session")]
  for key in keys:
    eager, session = world.results[key], world.results[key + "/session"]
    assert sorted(session) == sorted(eager), key
    for name, value in eager.items():
      if value.dtype.kind == "f":
        np.testing.assert_allclose(session[name], value, atol=1e-6)
      else:
        assert session[name].tolist() == value.tolist(), (key, name)


def test_signatures_as_loaded(world):
  for name, (inputs, text_outputs, ids_outputs) in EXPECTED_SIGNATURES.items():
    assert world.specs[f"{name}/text"] == (inputs, text_outputs)
    assert world.specs[f"{name}/ids"] == (IDS, ids_outputs)
    assert world.specs[f"{name}/ids_only"] == (IDS, ids_outputs)
    assert world.specs[f"{name}/pre"] == (inputs, PREPROCESS_OUTPUTS[name])


def test_saved_model_cli_lists_the_documented_signatures(world):
  inputs, text_outputs, ids_outputs = EXPECTED_SIGNATURES["bc5cdr-chemical"]
  assert world.listings["bc5cdr-chemical"] == {
      "serving_default": (inputs, text_outputs),
      "serving_ids": (IDS, ids_outputs)}
  assert world.listings[PRE] == {
      name: (EXPECTED_SIGNATURES[name][0], PREPROCESS_OUTPUTS[name])
      for name in TASKS}


def _custom_ops(folder) -> set:
  """Op types in a SavedModel's graph that core TensorFlow lacks."""
  saved = saved_model_pb2.SavedModel()
  with open(os.path.join(folder, "saved_model.pb"), "rb") as f:
    saved.ParseFromString(f.read())
  graph = saved.meta_graphs[0].graph_def
  functions = {f.signature.name for f in graph.library.function}
  ops = {n.op for n in graph.node} | {
      n.op for f in graph.library.function for n in f.node_def}
  return {op for op in ops - functions if not hasattr(tf.raw_ops, op)}


def test_only_long_shipped_tf_text_ops(world):
  tokenizer_ops = {"NormalizeUTF8", "RegexSplitWithOffsets",
                   "WordpieceTokenizeWithOffsets"}
  for folder in world.written + world.final_written:
    if os.path.basename(os.path.dirname(folder)).endswith("_ids"):
      assert not _custom_ops(folder), folder
    else:
      assert _custom_ops(folder) == tokenizer_ops, folder


def test_refusals(run, tmp_path):
  with pytest.raises(ConfigError, match=r"'ddi2013-type'.*tasks\.json"):
    export.export_run(run, str(tmp_path), ["chemprot", "ddi2013-type"])
  with pytest.raises(ConfigError, match="neither a run folder"):
    export.export_run(os.path.join(run, "nothing"), str(tmp_path))
  with pytest.raises(ConfigError, match="version"):
    export.export_run(run, str(tmp_path), version=-1)
  assert not os.listdir(tmp_path)


def test_checkpoint_without_the_task_head(run, tmp_path):
  model = _run_model(run, ["hoc"], run_dir.final_weights(run))
  prefix = os.path.join(run, "hoc_only", "weights")
  multitask_model.model_checkpoint(model).write(prefix)
  with pytest.raises(CheckpointError,
                     match=f"{re.escape(prefix)}: .*head of task chemprot"):
    export.export_run(prefix, str(tmp_path), ["chemprot"], ids_only=True)


def test_best_then_final_weights(tmp_path):
  source = run_dir.RunSource(str(tmp_path))
  final = run_dir.final_weights(str(tmp_path))
  with pytest.raises(CheckpointError, match="no weights of task hoc"):
    source.weights("hoc")
  os.makedirs(os.path.dirname(final))
  open(final + ".index", "w").close()
  assert source.weights("hoc") == final
  best = run_dir.best_weights(str(tmp_path), "hoc")
  os.makedirs(os.path.dirname(best))
  open(best + ".index", "w").close()
  assert source.weights("hoc") == best
  assert run_dir.RunSource(str(tmp_path), final).weights("hoc") == final


def test_checkpoint_prefix_finds_its_run_folder(run, tmp_path):
  prefix = run_dir.best_weights(run, "hoc")
  assert run_dir.RunSource.resolve(prefix) == run_dir.RunSource(
      os.path.abspath(run), prefix)
  stray = os.path.join(str(tmp_path), "weights")
  open(stray + ".index", "w").close()
  with pytest.raises(ConfigError, match="not inside a training run folder"):
    run_dir.RunSource.resolve(stray)


# ------------------------------------------------------------ many runs, one folder


def _untrained_run(folder, bert_dir, names, max_seq_length, dev=None):
  """A run folder as training leaves it (the tiny BERT with fresh heads as
  its final weights; no step trained); `dev`: also the dev score of a
  finished run."""
  files = BertFiles.resolve(bert_dir=bert_dir)
  specs = [tasks_lib.TASKS[name] for name in names]
  run_dir.write_run_files(
      folder, TrainConfig(tasks=tuple(names), data_dir=SAMPLE_DIR,
                          output_dir=folder, max_seq_length=max_seq_length),
      files.config_file, files.vocab_file, specs, None)
  model = multitask_model.build_multitask_model(
      checkpoints.load_bert_encoder(files)[1], specs)
  multitask_model.model_checkpoint(model).write(run_dir.final_weights(folder))
  if dev is not None:
    run_dir.write_results(folder, {names[0]: {"dev": {"hoc_f1": dev}}})
    run_dir.write_timing(folder, 1.0, False, scoring_seconds=0.0)
  return folder


def _preprocessed(folder, text):
  """signature -> input_word_ids of a preprocess model on one text."""
  model = tf.saved_model.load(folder)
  return {name: signature(text=tf.constant([text]))["input_word_ids"]
          .numpy().tolist() for name, signature in model.signatures.items()}


def _packed(vocab_file, text, max_seq_length):
  """[CLS] text [SEP] ids, truncated as training truncates, by the
  pure-Python reference tokenizer."""
  vocab = open(vocab_file, encoding="utf-8").read().splitlines()
  ids = reference_tokenizer.ReferenceTokenizer(vocab).tokenize_to_ids(text)
  cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
  return [[cls] + ids[:max_seq_length - 2] + [sep]]


def test_one_folder_serves_the_tasks_of_many_runs(tmp_path, tiny_bert_dir):
  ft = tmp_path / "ft"  # run_finetune.py's output: a run, and seeds
  _untrained_run(str(ft / "chemprot"), tiny_bert_dir, ["chemprot"], 32)
  for seed, dev in ((1, 0.3), (2, 0.6)):
    _untrained_run(str(ft / "hoc" / f"seed_{seed}"), tiny_bert_dir, ["hoc"],
                   24, dev)
  other = _untrained_run(str(tmp_path / "mt"), tiny_bert_dir,
                         ["ddi2013-type", "chemprot"], 16)
  out = str(tmp_path / "serving")
  vocab = os.path.join(tiny_bert_dir, "vocab.txt")
  text = _long(28)  # cut by every run
  assert len(_packed(vocab, text, 100)[0]) > 32

  assert sorted(export.export_run(str(ft), out, ids_only=True)) == [
      f"{out}/{name}/1" for name in ("chemprot_ids", "hoc_ids", PRE)]
  recipe = json.load(open(f"{out}/hoc_ids/1/assets.extra/preprocessing.json"))
  assert recipe["weights"] == str(
      ft / "hoc" / "seed_2" / "final" / "weights")  # the best dev seed
  # A later export of another run's task adds to what is served.
  export.export_run(other, out, ["ddi2013-type"], ids_only=True)
  ids = _preprocessed(f"{out}/{PRE}/1", text)
  assert ids == {"chemprot": _packed(vocab, text, 32),
                 "hoc": _packed(vocab, text, 24),
                 "ddi2013-type": _packed(vocab, text, 16)}
  # The same task from another run: refused, naming both, nothing changed.
  config = open(f"{out}/models.config").read()
  with pytest.raises(ConfigError, match=(
      f"version 1 of task chemprot exists already .* exported from run "
      f"{re.escape(str(ft / 'chemprot'))} .* this export's is from run "
      f"{re.escape(other)} ")):
    export.export_run(other, out, ["chemprot"])
  assert open(f"{out}/models.config").read() == config
  # As a new version it is served; the preprocess model's newest version
  # follows each task's newest version.
  export.export_run(other, out, ["chemprot"], version=2)
  assert _preprocessed(f"{out}/{PRE}/2", text)["chemprot"] == _packed(
      vocab, text, 16)
  assert sorted(os.listdir(f"{out}/chemprot")) == ["2"]
  # --overwrite replaces the task's version whole (ids only: the raw-text
  # model of the other run goes).
  export.export_run(str(ft / "chemprot"), out, version=2, ids_only=True,
                    overwrite=True)
  assert not os.listdir(f"{out}/chemprot")
  assert _preprocessed(f"{out}/{PRE}/2", text)["chemprot"] == _packed(
      vocab, text, 32)
  names = ["chemprot_ids", "ddi2013-type_ids", "hoc_ids", PRE]
  assert open(f"{out}/models.config").read() == "".join(
      ["model_config_list {\n"] + [
          f'  config {{\n    name: "{name}"\n    base_path: "{out}/{name}"\n'
          '    model_platform: "tensorflow"\n  }\n' for name in names] +
      ["}\n"])
