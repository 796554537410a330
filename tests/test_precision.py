"""Mixed precision on CPU: bf16 and fp16 runs track the fp32 run's losses,
and an fp16 update whose gradients overflow is skipped, counted and not
counted as a step (so neither the learning-rate schedule nor the task
schedule advances), while the loss scale is lowered."""

import os
import shutil

import numpy as np
import pytest

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertFiles
from bluebert_mtl.train import step as step_lib
from bluebert_mtl.train import trainer as trainer_lib
from bluebert_mtl.train.start import Start
from conftest import SAMPLE_DIR
from test_trainer import _config

TASKS = ("biosses", "chemprot", "hoc", "bc5cdr-chemical")
STEPS = 30
# |loss - fp32 loss| at every one of the 30 steps, four tasks of all kinds.
TRACKING = {"bf16": 0.02, "fp16": 0.005}  # measured: 0.003, 0.0007


def _run(bert_dir, output_dir, data_dir, task_names, **overrides):
  config = _config(output_dir, data_dir, task_names, head_dropout=0.0,
                   learning_rate=1e-4, **overrides)
  try:
    trainer = trainer_lib.Trainer(
        config, Start(BertFiles.resolve(bert_dir=bert_dir)),
        [tasks_lib.get_task(n) for n in task_names])
    trainer.run()
  finally:
    step_lib.set_precision(None)
  return trainer


@pytest.fixture(scope="module")
def fp32_losses(no_dropout_bert_dir, tmp_path_factory):
  trainer = _run(no_dropout_bert_dir, tmp_path_factory.mktemp("fp32") / "run",
                 SAMPLE_DIR, TASKS, max_steps=STEPS, num_train_epochs=100,
                 eval_every_epochs=0)
  return trainer.history


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_tracks_fp32(fp32_losses, no_dropout_bert_dir,
                                     tmp_path, precision):
  trainer = _run(no_dropout_bert_dir, tmp_path / "run", SAMPLE_DIR, TASKS,
                 max_steps=STEPS, num_train_epochs=100, eval_every_epochs=0,
                 mixed_precision=precision)
  assert [(s, t) for s, t, _ in trainer.history] == [
      (s, t) for s, t, _ in fp32_losses]
  gaps = [abs(a - b) for (_, _, a), (_, _, b) in zip(trainer.history,
                                                     fp32_losses)]
  print(f"{precision}: max |loss - fp32 loss| over {STEPS} steps "
        f"{max(gaps):.5f}, mean {np.mean(gaps):.5f}")
  assert max(gaps) <= TRACKING[precision]


@pytest.fixture
def one_huge_score(tmp_path):
  """biosses sample data whose first training pair scores 1e5: any batch
  holding it overflows fp16 gradients (2 x 1e5 x loss scale 2^15 > 65504)."""
  data = tmp_path / "data"
  shutil.copytree(os.path.join(SAMPLE_DIR, "biosses"), data / "biosses")
  lines = (data / "biosses" / "train.tsv").read_text().splitlines(True)
  fields = lines[1].rstrip("\n").split("\t")
  lines[1] = "\t".join(fields[:-1] + ["100000.0"]) + "\n"
  (data / "biosses" / "train.tsv").write_text("".join(lines))
  return str(data)


def test_an_overflowing_fp16_update_is_skipped_and_not_counted(
    no_dropout_bert_dir, one_huge_score, tmp_path):
  # 24 pairs in batches of 8: 3 batches an epoch, one of them with the pair,
  # which overflows until the loss scale is below 65504 x 8 / (2 x 1e5).
  trainer = _run(no_dropout_bert_dir, tmp_path / "run", one_huge_score,
                 ("biosses",), train_batch_size=8, num_train_epochs=2,
                 eval_every_epochs=0, mixed_precision="fp16")
  state = trainer.state
  assert int(state.skipped_steps.numpy()) >= 12  # 2^15 -> 2^2 at least
  assert float(trainer.optimizer.loss_scale) <= 2.0
  assert int(state.global_step.numpy()) == trainer.total_steps == 6
  assert [s for s, _, _ in trainer.history] == [1, 2, 3, 4, 5, 6]
  # A skipped update's batch is tried again: no batch is lost or extra.
  assert int(state.task_batches.numpy()[0]) == 6
  # The learning-rate schedule counts applied updates only.
  assert int(trainer.optimizer.iterations.numpy()) == 6


def test_a_skipped_update_leaves_every_weight_as_it_was(
    no_dropout_bert_dir, one_huge_score, tmp_path):
  config = _config(tmp_path / "run", one_huge_score, ("biosses",),
                   head_dropout=0.0, train_batch_size=24,
                   mixed_precision="fp16")
  try:
    trainer = trainer_lib.Trainer(
        config, Start(BertFiles.resolve(bert_dir=no_dropout_bert_dir)),
        [tasks_lib.get_task("biosses")])
    step = step_lib.make_train_step(
        trainer.strategy, trainer.model, trainer.tasks[0], trainer.optimizer,
        config, trainer.batches.signature("biosses"))
    batch = next(iter(trainer.batches.dataset("biosses")))  # all 24 pairs
    before = [v.numpy() for v in trainer.model.trainable_variables]
    scale = float(trainer.optimizer.loss_scale)
    _, _, applied = step(batch)
  finally:
    step_lib.set_precision(None)
  assert not bool(applied)
  for old, variable in zip(before, trainer.model.trainable_variables):
    np.testing.assert_array_equal(old, variable.numpy(), err_msg=variable.name)
  assert int(trainer.optimizer.iterations.numpy()) == 0
  assert float(trainer.optimizer.loss_scale) == scale / 2
