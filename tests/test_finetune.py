"""Fine-tuning: from a multi-task run the encoder is the run's and the head is
new (the MT head is not reused); from a TF1 checkpoint (the baseline) the
encoder computes what numpy BERT computes on the checkpoint's weights;
recipes, seeds as mean ± sd, reruns and the CLI."""

import dataclasses
import hashlib
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import numpy_bert
from bluebert_mtl.model import checkpoints
from bluebert_mtl.study import finetune
from bluebert_mtl.model import multitask_model
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.train import start as start_lib
from bluebert_mtl.train import trainer as trainer_lib
from bluebert_mtl.train.start import Start
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import ConfigError
from conftest import REPO_ROOT, SAMPLE_DIR, TINY_ENCODER_CONFIG

MT_TASKS = ("chemprot", "clinicalsts")
TIMING_WALL_KEY = "wall_seconds"
# Two texts of 6 and 3 WordPieces, the second padded: [B=2, T=6].
WORD_IDS = np.array([[101, 7592, 2088, 102, 2003, 102],
                     [101, 4937, 102, 0, 0, 0]], np.int32)
INPUTS = {"input_word_ids": WORD_IDS,
          "input_mask": (WORD_IDS > 0).astype(np.int32),
          "input_type_ids": np.array([[0, 0, 0, 0, 1, 1], [0] * 6], np.int32)}


def _config(output_dir, task_names, **overrides):
  values = dict(tasks=tuple(task_names), data_dir=SAMPLE_DIR,
                output_dir=str(output_dir), max_seq_length=32,
                train_batch_size=8, learning_rate=1e-3, num_train_epochs=1)
  return TrainConfig(**dict(values, **overrides))


def _tasks(names):
  return [tasks_lib.get_task(name) for name in names]


def _trainer(config, start, task_names):
  """The trainer `trainer.train` runs from `start`, before training."""
  return trainer_lib.Trainer(config, start, _tasks(task_names))


@pytest.fixture(name="mt_run", scope="module")
def fixture_mt_run(tiny_bert_dir, tmp_path_factory):
  """A multi-task run folder: one epoch (every batch of both tasks once)."""
  folder = tmp_path_factory.mktemp("mt") / "run"
  trainer_lib.train(_config(folder, MT_TASKS),
                 Start(BertFiles.resolve(bert_dir=tiny_bert_dir)),
                 _tasks(MT_TASKS))
  return str(folder)


def _mt_run_weights(run):
  """The MT run's final encoder (rebuilt from its bert_config.json and read
  with a plain tf.train.Checkpoint) and its chemprot head kernel."""
  prefix = os.path.join(run, "final", "weights")
  _, encoder = checkpoints.load_bert_encoder(BertFiles(
      os.path.join(run, "bert_config.json"), None,
      os.path.join(run, "vocab.txt")))
  encoder(INPUTS)
  tf.train.Checkpoint(encoder=encoder).read(prefix).expect_partial()
  kernel = tf.train.load_checkpoint(prefix).get_tensor(
      "heads/chemprot/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE")
  return encoder, kernel


def _head_kernel(model, task_name):
  (kernel,) = [w for w in model.get_layer(task_name).weights
               if len(w.shape) == 2]
  return kernel.numpy()


def test_from_mt_run_the_encoder_is_the_runs_and_the_head_is_new(
    mt_run, tmp_path):
  start = start_lib.resolve_start(init_checkpoint=mt_run)
  assert start.encoder_checkpoint == tf.train.latest_checkpoint(
      os.path.join(mt_run, "checkpoints"))
  assert start.bert_files == BertFiles(os.path.join(mt_run, "bert_config.json"),
                                       None, os.path.join(mt_run, "vocab.txt"))
  mt_encoder, mt_kernel = _mt_run_weights(mt_run)
  trainer = _trainer(_config(tmp_path / "ft", ["chemprot"], max_steps=3),
                     start, ["chemprot"])
  encoder = multitask_model.encoder_of(trainer.model)
  assert len(encoder.weights) == len(mt_encoder.weights)
  for got, want in zip(encoder.weights, mt_encoder.weights):
    np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=got.name)
  start_kernel = _head_kernel(trainer.model, "chemprot")
  assert start_kernel.shape == mt_kernel.shape
  assert not np.allclose(start_kernel, mt_kernel)

  results = trainer.run()
  end_kernel = _head_kernel(trainer.model, "chemprot")
  assert not np.allclose(end_kernel, start_kernel)
  assert not np.allclose(end_kernel, mt_kernel)
  assert set(results) == {"chemprot"}
  assert os.path.isfile(tmp_path / "ft" / "predictions" / "chemprot_test.tsv")
  with open(tmp_path / "ft" / "start.json") as f:
    recorded = json.load(f)
  with open(start.encoder_checkpoint + ".index", "rb") as f:
    index_sha256 = hashlib.sha256(f.read()).hexdigest()
  assert recorded == {"checkpoint": start.encoder_checkpoint,
                      "index_sha256": index_sha256}


def test_a_checkpoint_of_an_mt_run_takes_config_and_vocab_from_its_run(
    mt_run):
  prefix = os.path.join(mt_run, "best", "chemprot", "weights")
  start = start_lib.resolve_start(init_checkpoint=prefix)
  assert start.encoder_checkpoint == prefix
  assert start.bert_files.config_file == os.path.join(mt_run,
                                                      "bert_config.json")


def test_baseline_from_tf1_checkpoint_computes_what_numpy_bert_does(
    tiny_bert_dir, tmp_path):
  start = start_lib.resolve_start(
      bert_config_file=os.path.join(tiny_bert_dir, "bert_config.json"),
      init_checkpoint=tiny_bert_dir,
      vocab_file=os.path.join(tiny_bert_dir, "vocab.txt"))
  assert start.encoder_checkpoint is None
  assert start.bert_files.checkpoint == os.path.join(tiny_bert_dir,
                                                     "bert_model.ckpt")
  trainer = _trainer(_config(tmp_path, ["biosses"]), start, ["biosses"])
  got = multitask_model.encoder_of(trainer.model)(INPUTS, training=False)
  want_sequence, want_pooled = numpy_bert.bert_forward(
      numpy_bert.random_tf1_weights(TINY_ENCODER_CONFIG, seed=0),
      TINY_ENCODER_CONFIG, INPUTS["input_word_ids"], INPUTS["input_mask"],
      INPUTS["input_type_ids"])
  np.testing.assert_allclose(got["pooled_output"], want_pooled, atol=1e-4)
  real = INPUTS["input_mask"].astype(bool)
  np.testing.assert_allclose(np.asarray(got["sequence_output"])[real],
                             want_sequence[real], atol=1e-4)


def test_cli_baseline_with_seeds_reports_mean_and_sd(tiny_bert_dir, tmp_path):
  subprocess.run(
      [sys.executable, "run_finetune.py", "--task=clinicalsts",
       f"--bert_dir={tiny_bert_dir}", f"--data_dir={SAMPLE_DIR}",
       f"--output_dir={tmp_path}", "--max_seq_length=32",
       "--train_batch_size=8", "--max_steps=2", "--learning_rate=1e-4",
       "--seeds=1,2"],
      cwd=REPO_ROOT, check=True, capture_output=True)
  folder = tmp_path / "clinicalsts"
  per_seed = {}
  for seed in (1, 2):
    seed_dir = folder / f"seed_{seed}"
    with open(seed_dir / "results.json") as f:
      per_seed[seed] = json.load(f)["clinicalsts"]
    with open(seed_dir / "train_config.json") as f:
      train_config = json.load(f)
    # The given learning rate; clinicalsts' released 30 epochs
    # (docs/original_system.md §3.6).
    assert (train_config["seed"], train_config["num_train_epochs"],
            train_config["learning_rate"]) == (seed, 30, 1e-4)
    assert train_config["tasks"] == ["clinicalsts"]
    with open(seed_dir / "timing.json") as f:
      timing = json.load(f)
    assert timing.keys() == {"resumed", TIMING_WALL_KEY, "training_seconds",
                             "scoring_seconds"}
    assert timing["resumed"] is False
    assert timing["training_seconds"] > 0 and timing["scoring_seconds"] > 0
    assert timing["training_seconds"] + timing["scoring_seconds"] == (
        pytest.approx(timing[TIMING_WALL_KEY]))
  with open(folder / "results.json") as f:
    results = json.load(f)
  entry = results["clinicalsts"]
  assert entry["seeds"] == [1, 2]
  assert entry["per_seed"] == {"1": per_seed[1], "2": per_seed[2]}
  for split in ("dev", "test"):
    a, b = (per_seed[s][split]["pearson"] for s in (1, 2))
    assert entry[split]["pearson"] == pytest.approx((a + b) / 2)
    assert entry[f"{split}_sd"]["pearson"] == pytest.approx(
        abs(a - b) / math.sqrt(2))

  # A rerun with the same flags reads the finished seeds back instead of
  # training them again; one with another learning rate is refused.
  modified = os.path.getmtime(folder / "seed_1" / "results.json")
  start = start_lib.resolve_start(bert_dir=tiny_bert_dir)
  again = finetune.finetune(
      _config(tmp_path, ["clinicalsts"], max_steps=2, learning_rate=1e-4),
      start, tasks_lib.get_task("clinicalsts"), seeds=[1, 2],
      keep=("learning_rate",))
  assert again == results
  assert os.path.getmtime(folder / "seed_1" / "results.json") == modified
  with pytest.raises(ConfigError, match=r"seed_1: .*learning_rate: "
                     r"0\.0001 != 5e-05"):
    finetune.finetune(_config(tmp_path, ["clinicalsts"], max_steps=2), start,
                      tasks_lib.get_task("clinicalsts"), seeds=[1, 2])


def test_recipes_apply_unless_kept():
  config = _config("out", ["mednli"], learning_rate=3e-4, num_train_epochs=2)
  mednli = finetune.recipe_config(config, "mednli")
  assert (mednli.num_train_epochs, mednli.learning_rate) == (10, 1e-5)
  kept = finetune.recipe_config(config, "bc5cdr-disease",
                                keep=["learning_rate"])
  assert (kept.num_train_epochs, kept.learning_rate) == (20, 3e-4)
  assert finetune.recipe_config(config, "hoc") == config


def test_i2b2_per_tensor_clip_goes_with_the_released_optimizer():
  """run_blue_fine_tune.sh clips each tensor at 1 for i2b2-2010-re, inside
  BertAdam; with the paper's Adamax only the global clip applies."""
  adamax = _config("out", ["i2b2-2010-re"])
  assert finetune.recipe_config(adamax, "i2b2-2010-re").grad_clipping == 0.0
  bert_adam = _config("out", ["i2b2-2010-re"], optimizer="bert_adam")
  assert finetune.recipe_config(bert_adam,
                                "i2b2-2010-re").grad_clipping == 1.0
  assert finetune.recipe_config(bert_adam, "chemprot").grad_clipping == 0.0
  kept = finetune.recipe_config(
      dataclasses.replace(bert_adam, grad_clipping=0.5), "i2b2-2010-re",
      keep=["grad_clipping"])
  assert kept.grad_clipping == 0.5


def test_repeated_seeds_are_a_config_error(tiny_bert_dir, tmp_path):
  start = start_lib.resolve_start(bert_dir=tiny_bert_dir)
  with pytest.raises(ConfigError, match="repeats a seed"):
    finetune.finetune(_config(tmp_path, ["biosses"]), start,
                      tasks_lib.get_task("biosses"), seeds=[3, 3])
