"""The multi-task loop: losses fall on real data, results are complete, a
killed run resumes to the same weights, two workers stay identical, and the
mixed-precision and XLA paths run on CPU."""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.train import step as step_lib
from bluebert_mtl.train import trainer as trainer_lib
from bluebert_mtl.train.start import Start
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import ConfigError
from conftest import REPO_ROOT, SAMPLE_DIR

BLUE_PUBLIC_TASKS = ("chemprot", "ddi2013-type", "hoc", "biosses",
                     "bc5cdr-chemical", "bc5cdr-disease")
SAMPLE_TASKS = ("chemprot", "biosses", "bc5cdr-chemical", "hoc")


def _head_of_file(src, dst, rows, header, blank_line_records=False):
  """Writes the first `rows` records of a real file (tests only, tmp only)."""
  with open(src, encoding="utf-8") as f:
    text = f.read()
  if blank_line_records:
    records = text.split("\n\n")[:rows]
    out = "\n\n".join(records) + "\n\n"
  else:
    lines = text.splitlines(keepends=True)
    end = rows + int(header)
    if "hoc" in src:  # whole abstracts: HoC scores documents
      pmid = lambda line: line.rsplit("\t", 1)[-1].split("_")[0]
      while end < len(lines) and pmid(lines[end]) == pmid(lines[end - 1]):
        end += 1
    out = "".join(lines[:end])
  with open(dst, "w", encoding="utf-8") as f:
    f.write(out)


@pytest.fixture(scope="module")
def small_blue_public(blue_public_dir, tmp_path_factory):
  """The first rows of each real blue-public file, in a temporary folder."""
  root = tmp_path_factory.mktemp("blue_public_small")
  for task in BLUE_PUBLIC_TASKS:
    os.makedirs(root / task)
    ner = task.startswith("bc5cdr")
    for split, rows in (("train", 96), ("dev", 32), ("test", 32)):
      _head_of_file(os.path.join(blue_public_dir, task, f"{split}.tsv"),
                    root / task / f"{split}.tsv", rows, header=not ner,
                    blank_line_records=ner)
  return str(root)


def _config(output_dir, data_dir, task_names, **overrides):
  values = dict(tasks=tuple(task_names), data_dir=data_dir,
                output_dir=str(output_dir), max_seq_length=64,
                train_batch_size=16, eval_batch_size=32, learning_rate=1e-3,
                num_train_epochs=1, log_every_steps=1,
                save_checkpoints_steps=1000)
  values.update(overrides)
  return TrainConfig(**values)


def _tasks(names):
  return [tasks_lib.get_task(n) for n in names]


def test_short_mt_run_on_blue_public(small_blue_public, tiny_bert_dir,
                                     tmp_path):
  config = _config(tmp_path / "run", small_blue_public, BLUE_PUBLIC_TASKS,
                   num_train_epochs=6, eval_every_epochs=3)
  trainer = trainer_lib.Trainer(config, Start(BertFiles.resolve(bert_dir=tiny_bert_dir)),
                             _tasks(BLUE_PUBLIC_TASKS))
  results = trainer.run()
  for task in BLUE_PUBLIC_TASKS:
    losses = [loss for _, name, loss in trainer.history if name == task]
    per_epoch = len(losses) // 6
    first, last = np.mean(losses[:per_epoch]), np.mean(losses[-per_epoch:])
    assert last < first, f"{task}: loss {first:.4f} -> {last:.4f}"
  on_disk = json.load(open(tmp_path / "run" / "results.json"))
  assert on_disk == json.loads(json.dumps(results))
  expected_metric = {t.name: t.metric for t in _tasks(BLUE_PUBLIC_TASKS)}
  for task in BLUE_PUBLIC_TASKS:
    # results.json's dev score is the best one the evaluations found (a NaN
    # score, e.g. Pearson of constant predictions, is kept as -inf)
    best = float(trainer.state.best_scores[trainer.task_index[task]].numpy())
    dev = on_disk[task]["dev"][expected_metric[task]]
    assert (math.isnan(dev) and best == -math.inf) or dev == pytest.approx(
        best, abs=1e-6)
    for split in ("dev", "test"):
      assert list(on_disk[task][split]) == [expected_metric[task]]
      assert np.isfinite(on_disk[task][split][expected_metric[task]])
      assert os.path.exists(tmp_path / "run" / "predictions" /
                            f"{task}_{split}.tsv")


@pytest.mark.full
def test_one_epoch_mt_run_on_all_of_blue_public(blue_public_dir, tiny_bert_dir,
                                                tmp_path):
  """The full real-data pass (give --full): every row of the six tasks."""
  config = _config(tmp_path / "run", blue_public_dir, BLUE_PUBLIC_TASKS,
                   max_seq_length=128, train_batch_size=32, learning_rate=5e-4)
  trainer = trainer_lib.Trainer(config, Start(BertFiles.resolve(bert_dir=tiny_bert_dir)),
                             _tasks(BLUE_PUBLIC_TASKS))
  results = trainer.run()
  for task in BLUE_PUBLIC_TASKS:
    losses = [loss for _, name, loss in trainer.history if name == task]
    if len(losses) >= 20:  # biosses has 2 batches an epoch: too few to tell
      tenth = len(losses) // 10
      assert np.mean(losses[-tenth:]) < np.mean(losses[:tenth]), task
    assert np.isfinite(results[task]["test"][tasks_lib.get_task(task).metric])


def _run_mtl_command(output_dir, bert_dir, *extra):
  return [sys.executable, os.path.join(REPO_ROOT, "run_mtl.py"),
          f"--bert_dir={bert_dir}", f"--data_dir={SAMPLE_DIR}",
          f"--tasks={','.join(SAMPLE_TASKS)}", f"--output_dir={output_dir}",
          "--max_seq_length=64", "--train_batch_size=8",
          "--learning_rate=1e-3", "--num_train_epochs=2",
          "--save_checkpoints_steps=3", "--log_every_steps=1", *extra]


def _env():
  return dict(os.environ, TF_DETERMINISTIC_OPS="1", PYTHONUNBUFFERED="1",
              CUDA_VISIBLE_DEVICES="")


def _final_weights(run_dir):
  reader = tf.train.load_checkpoint(os.path.join(run_dir, "final", "weights"))
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name.startswith(("encoder/", "heads/"))}


def test_killed_run_resumes_to_the_same_weights(tiny_bert_dir, tmp_path):
  whole, killed = tmp_path / "whole", tmp_path / "killed"
  subprocess.run(_run_mtl_command(whole, tiny_bert_dir, "--deterministic"),
                 env=_env(), check=True, capture_output=True)
  process = subprocess.Popen(_run_mtl_command(killed, tiny_bert_dir,
                                              "--deterministic"),
                             env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  checkpoints = killed / "checkpoints"
  deadline = time.time() + 300
  while not (checkpoints.exists() and
             any(p.name.startswith("ckpt-6") for p in checkpoints.iterdir())):
    assert process.poll() is None, "the run ended before it could be killed"
    if time.time() > deadline:  # a guard against hanging, not a timing test
      pytest.fail("the run wrote no step-6 checkpoint")
    time.sleep(0.2)
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert not (killed / "results.json").exists()
  subprocess.run(_run_mtl_command(killed, tiny_bert_dir, "--deterministic"),
                 env=_env(), check=True, capture_output=True)
  a, b = _final_weights(whole), _final_weights(killed)
  assert a.keys() == b.keys() and len(a) > 20
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_workers_end_with_identical_weights(tiny_bert_dir, tmp_path):
  ports = [_free_port(), _free_port()]
  cluster = {"worker": [f"localhost:{p}" for p in ports]}
  output = tmp_path / "mw"
  workers = []
  for index in range(2):
    env = dict(_env(), TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": index}}))
    workers.append(subprocess.Popen(
        _run_mtl_command(output, tiny_bert_dir,
                         "--distribution_strategy=multi_worker_mirrored",
                         "--max_steps=6"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
  logs = [w.communicate(timeout=600)[0].decode() for w in workers]
  for w, log in zip(workers, logs):
    assert w.returncode == 0, log[-3000:]
  chief = _final_weights(output)
  other = _final_weights(output / "worker_worker_1")
  assert chief.keys() == other.keys()
  for name in chief:
    np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
  assert (output / "results.json").exists()


@pytest.mark.parametrize("overrides", [
    {"mixed_precision": "bf16"}, {"mixed_precision": "fp16"},
    {"jit_compile": True}])
def test_precision_and_xla_paths_train_on_cpu(tiny_bert_dir, tmp_path,
                                              overrides):
  config = _config(tmp_path / "run", SAMPLE_DIR, ("chemprot", "bc5cdr-chemical"),
                   max_steps=4, **overrides)
  try:
    trainer = trainer_lib.Trainer(
        config, Start(BertFiles.resolve(bert_dir=tiny_bert_dir)),
        _tasks(("chemprot", "bc5cdr-chemical")))
    results = trainer.run()
  finally:
    step_lib.set_precision(None)
  assert len(trainer.history) == 4
  assert all(np.isfinite(loss) for _, _, loss in trainer.history)
  assert set(results) == {"chemprot", "bc5cdr-chemical"}


def test_cls_only_last_layer_trains_as_the_full_layer(no_dropout_bert_dir,
                                                     tmp_path):
  """Without dropout, sentence tasks trained on the [CLS]-only last block
  (the default) take the full block's losses, step by step; the tagging
  task trains in the same model."""
  names = ("chemprot", "hoc", "biosses", "bc5cdr-chemical")
  histories = []
  for cls_only in (True, False):
    config = _config(tmp_path / str(cls_only), SAMPLE_DIR, names,
                     max_steps=8, head_dropout=0.0,
                     cls_only_last_layer=cls_only)
    trainer = trainer_lib.Trainer(
        config, Start(BertFiles.resolve(bert_dir=no_dropout_bert_dir)),
        _tasks(names))
    trainer.run()
    histories.append(trainer.history)
  (ours, full) = histories
  assert [name for _, name, _ in ours] == [name for _, name, _ in full]
  assert {name for _, name, _ in ours} == set(names)
  np.testing.assert_allclose([loss for _, _, loss in ours],
                             [loss for _, _, loss in full], rtol=1e-5)


def test_diverging_loss_stops_naming_task_and_step(tiny_bert_dir, tmp_path):
  config = _config(tmp_path / "run", SAMPLE_DIR, ("chemprot",),
                   learning_rate=1e30, warmup_proportion=0.0, max_steps=6,
                   save_checkpoints_steps=1)
  trainer = trainer_lib.Trainer(config, Start(BertFiles.resolve(bert_dir=tiny_bert_dir)),
                             _tasks(("chemprot",)))
  with pytest.raises(trainer_lib.TrainingDivergedError,
                     match=r"task chemprot is (nan|inf) at step (\d+)") as e:
    trainer.run()
  step = int(str(e.value).split(" at step ")[1].split(";")[0])
  good = f"ckpt-{step - 1}"
  assert str(e.value).endswith(good) or good in str(e.value)
  assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")
                                    ).endswith(good)


def test_gradient_norm_of_repeated_embedding_rows_is_the_dense_norm():
  """An embedding gradient lists a token's row once per occurrence; the
  norm that is logged and clipped must be that of the dense gradient."""
  rng = np.random.default_rng(0)
  indices = np.array([3, 1, 3, 3, 0, 1], np.int32)
  values = rng.normal(size=(len(indices), 4)).astype(np.float32)
  dense = np.zeros((5, 4), np.float64)
  np.add.at(dense, indices, values)
  slices = tf.IndexedSlices(tf.constant(values), tf.constant(indices),
                            tf.constant([5, 4]))
  merged = step_lib.merge_duplicate_rows(slices)
  assert sorted(merged.indices.numpy()) == [0, 1, 3]
  np.testing.assert_allclose(tf.convert_to_tensor(merged).numpy(), dense,
                             rtol=1e-6)
  np.testing.assert_allclose(tf.linalg.global_norm([merged]).numpy(),
                             np.sqrt(np.sum(dense ** 2)), rtol=1e-6)
  assert tf.linalg.global_norm([slices]).numpy() < np.sqrt(np.sum(dense**2))
  plain = tf.constant(values)
  assert step_lib.merge_duplicate_rows(plain) is plain


def test_an_early_stop_is_kept_in_the_checkpoint(tiny_bert_dir, tmp_path):
  """A run killed after its early-stopping decision and before timing.json
  only finishes when restarted: it does not train on."""
  # Learning rate 0: dev scores never change, so the second evaluation is
  # no improvement and patience 1 stops the run after epoch 2 of 5.
  config = _config(tmp_path / "run", SAMPLE_DIR, ("chemprot",),
                   learning_rate=0.0, num_train_epochs=5, patience=1,
                   train_batch_size=16)
  start = Start(BertFiles.resolve(bert_dir=tiny_bert_dir))
  first = trainer_lib.Trainer(config, start, _tasks(("chemprot",)))
  first.run()
  stopped_at = int(first.state.global_step.numpy())
  assert stopped_at == 2 * first.steps_per_epoch < first.total_steps
  for name in ("timing.json", "results.json"):  # killed before these
    os.remove(tmp_path / "run" / name)
  again = trainer_lib.Trainer(config, start, _tasks(("chemprot",)))
  assert again.restore()
  results = again.run()
  assert again.history == []
  assert int(again.state.global_step.numpy()) == stopped_at
  assert "chemprot" in results and (tmp_path / "run" / "timing.json").exists()


@pytest.mark.parametrize("overrides, message", [
    ({"train_batch_size": 0}, r"--train_batch_size must be > 0"),
    ({"num_train_epochs": 0}, r"--num_train_epochs must be > 0"),
    ({"max_steps": 0}, r"--max_steps must be > 0"),
    ({"save_checkpoints_steps": -1}, r"--save_checkpoints_steps must be"),
    ({"gradient_accumulation_steps": 9, "train_batch_size": 8},
     r"--gradient_accumulation_steps=9 is more than --train_batch_size=8"),
    ({"tasks": ("chemprot", "chemprot")}, r"--tasks names a task twice"),
    ({"max_seq_length": 600},
     r"--max_seq_length=600 must be in \[3, 512\] \(max_position_embeddings "
     r"of .*bert_config.json\)"),
])
def test_unusable_settings_are_refused_before_any_work(tiny_bert_dir, tmp_path,
                                                       overrides, message):
  config = _config(tmp_path / "run", SAMPLE_DIR, ("chemprot",), **overrides)
  with pytest.raises(ConfigError, match=message):
    trainer_lib.Trainer(config, Start(BertFiles.resolve(bert_dir=tiny_bert_dir)),
                        _tasks(config.tasks))
  assert not (tmp_path / "run").exists()
