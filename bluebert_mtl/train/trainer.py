"""The multi-task training loop under `tf.distribute` (paper Algorithm 1).

Each step takes one mini-batch of one task, chosen by the task schedule
(`sampling.py`), and applies that task's loss to the shared encoder and that
task's head (`step.py`). `Trainer.__init__` builds a run, `Trainer.run` is
the loop:

  strategy scope -> model, optimizer (built on every variable)
  -> restore the last checkpoint if the output folder has one
  -> per step: schedule -> task -> next batch of that task -> that task's
     compiled step (forward, backward, all-reduce, clip, apply)
  -> log / evaluate dev every `eval_every_epochs` / checkpoint
  -> predictions of dev and test with each task's best (by dev) weights
     (`evaluation.py`).

`train` is the entry point: it trains (or resumes) a run, or reads a finished
one back.
"""

import dataclasses
import glob
import math
import os
import shutil
import time
from typing import Callable, Sequence, TypeVar

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from bluebert_mtl import files
from bluebert_mtl import progress as progress_lib
from bluebert_mtl import tokenization
from bluebert_mtl.config import TrainConfig
from bluebert_mtl.data import datasets
from bluebert_mtl.data import task_data
from bluebert_mtl.errors import BlueBertError, ConfigError, OutputError
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import inference
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl.train import checks
from bluebert_mtl.train import distribution
from bluebert_mtl.train import evaluation
from bluebert_mtl.train import optimization
from bluebert_mtl.train import sampling
from bluebert_mtl.train import step as step_lib
from bluebert_mtl.train import summaries
from bluebert_mtl.train.start import Start
from bluebert_mtl.train.state import TrainingState


_Result = TypeVar("_Result")


class TrainingDivergedError(BlueBertError):
  """A loss became NaN or infinite."""
  what = "training"


def _training_features(config: TrainConfig, splits: dict) -> list:
  """A task's training rows: train (and dev with --train_on_dev)."""
  feats = list(splits["train"].features)
  if config.train_on_dev:
    feats += splits["dev"].features
  if not feats or not all(f.label is not None for f in feats):
    raise ConfigError("training data must be labelled")
  return feats


class Trainer:
  """A run's pieces, built from its config, start and tasks; `run` trains.

  Args:
    config: the run's recipe and folders; its `tasks` are the names of
      `tasks`.
    start: where the encoder's weights come from.
    tasks: the `TaskSpec`s, in head order.
  """

  def __init__(self, config: TrainConfig, start: Start, tasks: Sequence):
    checks.check_config(config, start)
    self.data_record = data_record(config)
    run_dir.check_same_run(config.output_dir, config, start.checkpoint,
                           lambda: self.data_record)
    self.config = config
    self.start = start
    self.bert_files = start.bert_files
    self.tasks = [dataclasses.replace(
        t, variational_dropout=config.variational_dropout,
        dropout=config.head_dropout if t.dropout is None else t.dropout)
                  for t in tasks]
    self.task_index = {t.name: i for i, t in enumerate(self.tasks)}
    if config.deterministic:
      tf.config.experimental.enable_op_determinism()
    self.strategy = distribution.make_strategy(config.distribution_strategy)
    tf_keras.utils.set_random_seed(config.seed)
    tf_keras.backend.experimental.enable_tf_random_generator()
    step_lib.set_precision(config.mixed_precision)
    self.data = self._load_data()
    self.batches = datasets.TrainingBatches(
        {name: _training_features(config, splits)
         for name, splits in self.data.items()},
        config.train_batch_size, config.seed, config.length_bucketing,
        datasets.length_multiple(config.jit_compile),
        rows=step_lib.padded_rows(config.train_batch_size,
                                  self.strategy.num_replicas_in_sync,
                                  config.gradient_accumulation_steps))
    self._build_schedule()
    with self.strategy.scope():
      self.model = self._build_model()
      self.optimizer = self._build_optimizer()
      self.state = TrainingState.create(len(self.tasks))
    self.history = []  # (step, task, loss) of every step this process ran
    self._epoch_tasks = (None, [])  # (epoch, its schedule) last drawn
    self.weights_dir = distribution.worker_dir(self.strategy,
                                               config.output_dir)
    self.is_chief = distribution.is_chief(self.strategy)
    self.evaluator = evaluation.Evaluator(
        self.model, self.tasks, self.data, self.state,
        inference.token_budget(config.eval_batch_size, config.max_seq_length),
        config.jit_compile, self.weights_dir, config.output_dir,
        self.is_chief)
    self.checkpoint = multitask_model.model_checkpoint(
        self.model, optimizer=self.optimizer,
        dropout_generators=multitask_model.dropout_generators(self.model),
        **self.state.as_dict())
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(self.weights_dir, run_dir.CHECKPOINTS),
        max_to_keep=config.keep_checkpoint_max)

  # --- construction -------------------------------------------------------

  def _load_data(self) -> dict:
    """task name -> split name -> `task_data.SplitData`."""
    config = self.config
    tokenizer = tokenization.FullTokenizer(
        self.bert_files.vocab_file, do_lower_case=config.do_lower_case)
    return {t.name: task_data.load_task(
        t, config.data_dir, tokenizer, config.max_seq_length,
        cache_dir=config.cache_dir,
        second_text_first=config.second_text_first) for t in self.tasks}

  def _build_schedule(self):
    """The task schedule and the run's length in steps."""
    config = self.config
    self.schedule = sampling.make_schedule(
        config.sampler, {t.name: self.batches.batches_per_pass(t.name)
                         for t in self.tasks}, config.seed,
        num_epochs=max(1, math.ceil(config.num_train_epochs)),
        temperature=config.sampling_temperature)
    self.steps_per_epoch = self.schedule.steps_per_epoch
    self.total_steps = int(config.num_train_epochs * self.steps_per_epoch)
    if config.max_steps:
      self.total_steps = min(self.total_steps, config.max_steps)
    if self.total_steps < 1:
      raise ConfigError("the run has no training step: raise "
                        "--num_train_epochs or --max_steps")

  def _build_model(self):
    encoder_checkpoint = self.start.encoder_checkpoint
    _, encoder = checkpoints.load_bert_encoder(
        self.bert_files, weights_from_elsewhere=bool(encoder_checkpoint))
    model = multitask_model.build_multitask_model(
        encoder, self.tasks, self.config.cls_only_last_layer)
    if encoder_checkpoint:
      multitask_model.restore_encoder(model, encoder_checkpoint)
    return model

  def _build_optimizer(self):
    self.lr_schedule = optimization.WarmupLinearDecay(
        self.config.learning_rate,
        warmup_steps=int(self.config.warmup_proportion * self.total_steps),
        total_steps=self.total_steps,
        variant=self.config.lr_schedule)
    optimizer = optimization.create_optimizer(
        self.config.optimizer, self.lr_schedule,
        weight_decay=self.config.weight_decay, global_clipnorm=None,
        per_tensor_clipnorm=self.config.grad_clipping or None)
    # Built on every variable before the first step, or the first step of a
    # second task fails on its head's variables; logs the decay split.
    optimization.build_optimizer_for(optimizer,
                                     self.model.trainable_variables)
    if self.config.mixed_precision == "fp16":
      optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer

  # --- the loop -------------------------------------------------------------

  def restore(self) -> bool:
    """Restores the last checkpoint of this output folder, if any."""
    latest = self.manager.latest_checkpoint
    if latest:
      self.checkpoint.read(latest).assert_existing_objects_matched()
      logging.info("Resumed from %s at step %d", latest,
                   int(self.state.global_step.numpy()))
    return latest is not None

  def _streams(self) -> dict:
    """Each task's batch iterator, from the batches its stream has used."""
    return {t.name: iter(self.batches.dataset(
        t.name, int(self.state.task_batches[i].numpy())))
            for i, t in enumerate(self.tasks)}

  def run(self) -> dict:
    """Trains to the end, evaluating and checkpointing; returns results."""
    config = self.config
    self._write_run_files()
    steps = {t.name: step_lib.make_train_step(
        self.strategy, self.model, t, self.optimizer, config,
        self.batches.signature(t.name)) for t in self.tasks}
    streams = self._streams()
    writer = tf.summary.create_file_writer(
        os.path.join(self.weights_dir, "tensorboard"))
    start = int(self.state.global_step.numpy())
    summaries.write_run_config(writer, config, self.tasks,
                               run_dir.start_record(self.start.checkpoint),
                               start)
    self._clock = (time.monotonic(), float(self.state.wall_seconds.numpy()))
    progress = progress_lib.Progress(self.total_steps, start)
    running = {t.name: [] for t in self.tasks}
    one_hot = np.eye(len(self.tasks), dtype=np.int64)
    saved_at = done = start
    batch = None
    while done < self.total_steps and not self.state.stopped_early.numpy():
      if batch is None:
        name = self._task_of(done)
        batch = next(streams[name])
        self.state.task_batches.assign_add(one_hot[self.task_index[name]])
      loss, norm, applied = steps[name](batch)
      loss = float(loss)
      if not math.isfinite(loss):
        raise self._diverged(f"the loss of task {name} is {loss}", done)
      if not applied:
        self._log_skipped(writer, done, name)
        continue  # the same batch again, at the lowered loss scale
      examples, batch = int(batch["example_weight"].numpy().sum()), None
      self.state.global_step.assign_add(1)
      running[name].append(loss)
      done += 1
      self.history.append((done, name, loss))
      progress.update(done, name, loss, examples,
                      force=done == self.total_steps)
      if done % config.log_every_steps == 0:
        summaries.write_training(
            writer, done, running, self.lr_schedule.learning_rate_at(done),
            float(norm), progress.examples_per_second())
      saved_at = self._end_of_step(writer, done, saved_at)
    return self._finish(writer, start, saved_at)

  def _diverged(self, what: str, step: int) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"{what} at step {step + 1}; the last good checkpoint is "
        f"{self.manager.latest_checkpoint}")

  def _log_skipped(self, writer, step: int, name: str):
    """Counts and reports an fp16 update skipped for overflow (its batch is
    tried again at the halved loss scale, as dynamic loss scaling means)."""
    self.state.skipped_steps.assign_add(1)
    skipped = int(self.state.skipped_steps.numpy())
    scale = float(self.optimizer.loss_scale)
    logging.warning(
        "step %d (%s): the fp16 gradients overflowed; the update is skipped "
        "(%d so far) and the loss scale lowered to %g", step + 1, name,
        skipped, scale)
    with writer.as_default(step=step + 1):
      tf.summary.scalar("skipped_steps", skipped)
    if scale < 1.0:
      raise self._diverged(f"the fp16 gradients of task {name} overflow even "
                           f"at loss scale {scale:g}", step)

  def _task_of(self, step: int) -> str:
    """The task of step `step` (0-based) by the schedule; an epoch's list is
    drawn once."""
    epoch, position = divmod(step, self.steps_per_epoch)
    if self._epoch_tasks[0] != epoch:
      self._epoch_tasks = (epoch, self.schedule.tasks(epoch))
    return self._epoch_tasks[1][position]

  def _end_of_step(self, writer, done: int, saved_at: int) -> int:
    """Dev evaluation at the end of an evaluated epoch, early stopping (kept
    in the checkpoint, so a restart does not train on), and checkpoints.
    Returns the step last saved."""
    config = self.config
    end_of_epoch = done % self.steps_per_epoch == 0
    stop = False
    if (end_of_epoch and config.eval_every_epochs and
        (done // self.steps_per_epoch) % config.eval_every_epochs == 0):
      stop = self._patience_exhausted(self._scoring(
          lambda: self.evaluator.evaluate_dev(writer, done)))
    if stop:
      logging.info("No dev improvement in %d evaluations: stopping early",
                   config.patience)
      self.state.stopped_early.assign(True)
    if stop or end_of_epoch or done % config.save_checkpoints_steps == 0:
      self._save(done)
      saved_at = done
    return saved_at

  def _finish(self, writer, start: int, saved_at: int) -> dict:
    """Evaluates tasks never evaluated, saves, writes the results and
    timing.json (which marks the run finished)."""
    done = int(self.state.global_step.numpy())
    if (self.state.best_steps.numpy() < 0).any():
      self._scoring(lambda: self.evaluator.evaluate_dev(writer, done))
    if saved_at != done:
      self._save(done)
    results = self._scoring(self.evaluator.write_results)
    if self.is_chief:
      run_dir.write_timing(
          self.config.output_dir, self._wall_seconds(), resumed=start > 0,
          scoring_seconds=float(self.state.scoring_seconds.numpy()))
    return results

  def _scoring(self, score: Callable[[], _Result]) -> _Result:
    """Runs `score` (dev or test prediction and scoring), counting its wall
    time as the run's scoring time."""
    began = time.monotonic()
    try:
      return score()
    finally:
      self.state.scoring_seconds.assign_add(time.monotonic() - began)

  def _wall_seconds(self) -> float:
    """Training wall time over every start of this run, until now."""
    began, before = self._clock
    return before + time.monotonic() - began

  def _save(self, step: int):
    """Saves checkpoint `step`. Out of space, the files it began are
    removed, the last good checkpoint is kept, and an `OutputError` names
    the folder and that checkpoint."""
    self.state.wall_seconds.assign(self._wall_seconds())
    kept = self.manager.latest_checkpoint
    try:
      with files.space_checked(self.manager.directory, f"checkpoint {step} "
                               f"(the last good checkpoint, {kept}, is kept)"
                               if kept else f"checkpoint {step} (the first)"):
        self.manager.save(step)
    except OutputError:
      prefix = os.path.join(self.manager.directory, f"ckpt-{step}")
      for path in glob.glob(prefix + ".*") + glob.glob(prefix + "_temp*"):
        if os.path.isdir(path):
          shutil.rmtree(path)
        else:
          os.remove(path)
      raise

  def _patience_exhausted(self, improved: bool) -> bool:
    if improved:
      self.state.evals_since_best.assign(0)
    else:
      self.state.evals_since_best.assign_add(1)
    patience = self.config.patience
    return bool(patience) and int(self.state.evals_since_best.numpy()) >= patience

  def _write_run_files(self):
    if self.is_chief:
      run_dir.write_run_files(self.config.output_dir, self.config,
                              self.bert_files.config_file,
                              self.bert_files.vocab_file, self.tasks,
                              self.start.checkpoint, self.data_record)


def data_record(config: TrainConfig) -> dict:
  """data.json's record of the run's data files (`run_dir.data_record`)."""
  return run_dir.data_record(task_data.data_files(config.data_dir,
                                                  config.tasks))


def train(config: TrainConfig, start: Start, tasks: Sequence) -> dict:
  """Trains (or resumes) a run of `tasks` from `start` and returns
  results.json's content; a finished run (one with timing.json) is read back
  instead (`run_dir.read_finished_run`). Either must have `config`'s recipe
  and `start` and have read the same data (`run_dir.check_same_run`).

  The run's task names are those of `tasks`, whatever `config.tasks` says.
  """
  config = dataclasses.replace(config, tasks=tuple(t.name for t in tasks))
  if run_dir.is_finished(config.output_dir):
    return run_dir.read_finished_run(config.output_dir, config,
                                     start.checkpoint,
                                     lambda: data_record(config))
  trainer = Trainer(config, start, tasks)
  trainer.restore()
  return trainer.run()
