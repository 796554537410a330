"""The multi-task training loop under `tf.distribute` (paper Algorithm 1).

Each step takes one mini-batch of one task, chosen by the task schedule
(`sampling.py`), and applies that task's loss to the shared encoder and that
task's head. The whole loop is `train` below:

  strategy scope -> model, optimizer (built on every variable)
  -> restore the last checkpoint if the output folder has one
  -> per step: schedule -> task -> next batch of that task -> that task's
     compiled step (forward, backward, all-reduce, clip, apply)
  -> log / evaluate dev every `eval_every_epochs` / checkpoint
  -> predictions of dev and test with each task's best (by dev) weights.

A global batch is padded to `train_batch_size` rows; every replica receives
the whole batch and takes its own slice of rows, so no input pipeline needs
sharding and every worker of a multi-worker run reads the same batches.
"""

import dataclasses
import logging as logging_std
import math
import os
import time
from typing import Dict, List, Optional, Sequence

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from bluebert_mtl.model import checkpoints
from bluebert_mtl.data import datasets
from bluebert_mtl.train import distribution
from bluebert_mtl.model import multitask_model
from bluebert_mtl.train import optimization
from bluebert_mtl import progress as progress_lib
from bluebert_mtl.runs import run_dir
from bluebert_mtl.train import sampling
from bluebert_mtl.data import task_data
from bluebert_mtl import task_kinds
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl import tokenization
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import BlueBertError, ConfigError

class _FirstTracesFilter(logging_std.Filter):
  """Hides TF's retracing warning: each task's step function traces once on
  its first batch (open dimensions, no retracing after), which TF counts as
  "retracing" across the tasks' functions."""

  def filter(self, record):
    return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_FirstTracesFilter())


class TrainingDivergedError(BlueBertError):
  """A loss became NaN or infinite."""


@dataclasses.dataclass
class TrainingState:
  """Everything besides weights that a resumed run needs, as variables so it
  is saved in the same checkpoint as the weights.

  Attributes:
    global_step: steps done.
    task_batches: int64 [num_tasks]: batches consumed of each task's stream.
    best_scores: float64 [num_tasks]: best dev score so far (-inf: none yet).
    best_steps: int64 [num_tasks]: step of that score.
    evals_since_best: evaluations since any task last improved.
    wall_seconds: training wall time up to the last checkpoint, all starts.
  """
  global_step: tf.Variable
  task_batches: tf.Variable
  best_scores: tf.Variable
  best_steps: tf.Variable
  evals_since_best: tf.Variable
  wall_seconds: tf.Variable

  @classmethod
  def create(cls, num_tasks: int) -> "TrainingState":
    def var(value, dtype):
      return tf.Variable(value, dtype=dtype, trainable=False)
    return cls(var(0, tf.int64), var([0] * num_tasks, tf.int64),
               var([-np.inf] * num_tasks, tf.float64),
               var([-1] * num_tasks, tf.int64), var(0, tf.int64),
               var(0.0, tf.float64))

  def as_dict(self) -> dict:
    """The variables themselves (dataclasses.asdict would copy them)."""
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def set_precision(mixed_precision: Optional[str]):
  policies = {None: "float32", "": "float32", "bf16": "mixed_bfloat16",
              "fp16": "mixed_float16"}
  if mixed_precision not in policies:
    raise ConfigError(f"--mixed_precision must be bf16 or fp16, got "
                      f"{mixed_precision!r}")
  tf_keras.mixed_precision.set_global_policy(policies[mixed_precision])


def _scale(gradient, factor):
  """gradient * factor, for dense and IndexedSlices gradients."""
  if isinstance(gradient, tf.IndexedSlices):
    return tf.IndexedSlices(gradient.values * factor, gradient.indices,
                            gradient.dense_shape)
  return gradient * factor


def _merge_duplicate_rows(gradient):
  """An IndexedSlices gradient with each row index once (its rows summed).

  An embedding lookup's gradient holds one row per looked-up token, so a
  token id that occurs n times appears n times. The global norm of such
  slices squares each copy on its own and comes out below the norm of the
  dense gradient it stands for (0.5 % on the BLUE mix); after merging it is
  exact, so clipping and the logged norm match a dense-gradient trainer.
  Dense gradients pass through.
  """
  if not isinstance(gradient, tf.IndexedSlices):
    return gradient
  unique, positions = tf.unique(gradient.indices)
  values = tf.math.unsorted_segment_sum(gradient.values, positions,
                                        tf.shape(unique)[0])
  return tf.IndexedSlices(values, unique, gradient.dense_shape)


def _replica_rows(batch: dict, ctx: tf.distribute.ReplicaContext) -> dict:
  """This replica's equal share of a global batch's rows."""
  n = ctx.num_replicas_in_sync
  if n == 1:
    return batch
  size = tf.shape(batch["input_word_ids"])[0] // n
  start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * size
  return {name: value[start:start + size] for name, value in batch.items()}


def _model_inputs(batch: dict) -> dict:
  return {name: batch[name] for name in multitask_model.INPUT_NAMES}


def make_train_step(strategy, model, task, optimizer, config: TrainConfig,
                    batch_spec: dict):
  """One compiled training step of one task.

  Returns:
    a tf.function (global batch dict -> (mean loss, gradient norm before
    clipping)) traced once for open batch and sequence dimensions.
  """
  view = multitask_model.task_model(model, task.name)
  loss_fn = task_kinds.KINDS[task.kind].loss
  loss_weight = config.loss_weight(task.name)
  loss_scaling = isinstance(optimizer,
                            tf_keras.mixed_precision.LossScaleOptimizer)
  variables = view.trainable_variables

  def forward_backward(rows):
    with tf.GradientTape() as tape:
      outputs = view(_model_inputs(rows), training=True)
      loss_sum, count = loss_fn(rows["label"], outputs, rows["example_weight"])
      objective = loss_sum * loss_weight
      if loss_scaling:
        objective = optimizer.get_scaled_loss(objective)
    grads = tape.gradient(objective, variables)
    if loss_scaling:
      grads = optimizer.get_unscaled_gradients(grads)
    return loss_sum, count, grads

  if config.jit_compile:
    forward_backward = tf.function(forward_backward, jit_compile=True)

  def replica_step(batch):
    ctx = tf.distribute.get_replica_context()
    loss_sum, count, grads = forward_backward(_replica_rows(batch, ctx))
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    grads = [g for g, _ in pairs]
    if ctx.num_replicas_in_sync > 1:
      reduced = ctx.all_reduce(
          tf.distribute.ReduceOp.SUM,
          [loss_sum, count] + [tf.convert_to_tensor(g) for g in grads])
      loss_sum, count, grads = reduced[0], reduced[1], reduced[2:]
    count = tf.maximum(count, 1.0)
    grads = [_scale(_merge_duplicate_rows(g), 1.0 / count) for g in grads]
    norm = tf.linalg.global_norm(grads)
    if config.clip_norm:
      grads, _ = tf.clip_by_global_norm(grads, config.clip_norm, norm)
    optimizer.apply_gradients(zip(grads, [v for _, v in pairs]),
                              skip_gradients_aggregation=True)
    return loss_sum / count, norm

  @tf.function(input_signature=[batch_spec])
  def train_step(batch):
    loss, norm = strategy.run(replica_step, args=(batch,))
    first = strategy.experimental_local_results
    return first(loss)[0], first(norm)[0]

  return train_step


def make_predict_step(model, task):
  """A compiled forward pass of one task: batch dict -> its output."""
  view = multitask_model.task_model(model, task.name)
  spec = {name: tf.TensorSpec([None, None], tf.int32)
          for name in multitask_model.INPUT_NAMES}

  @tf.function(input_signature=[spec])
  def predict_step(inputs):
    return view(inputs, training=False)

  return predict_step


def predict(predict_step, split: task_data.SplitData,
            batch_size: int) -> List[np.ndarray]:
  """Model outputs of every feature of a split, in feature order.

  Batches are padded here, not through a `tf.data` generator dataset: TF
  2.20 keeps every `Dataset.from_generator`'s generator, and the features it
  holds, for the life of the process (tensorflow/tensorflow#123530), which
  piles up over a prediction job's many calls.
  """
  outputs = [None] * len(split.features)
  for indices in datasets.evaluation_batches(split.lengths, batch_size):
    batch = datasets.pad_batch(split.features, indices, batch_size,
                               with_labels=False)
    result = predict_step(_model_inputs(batch)).numpy()
    for row, index in enumerate(indices):
      outputs[index] = result[row]
  return outputs


def score_split(task, split: task_data.SplitData, predictions: dict):
  """The task's official metric on a labelled split, else None."""
  gold = task_data.gold_labels(task, split)
  if gold is None:
    return None
  return task.score(gold, tasks_lib.rows_for(gold, predictions))


def start_checkpoint(bert_files: BertFiles,
                     init_encoder_checkpoint: Optional[str]) -> Optional[str]:
  """The prefix a run's encoder weights come from: a multi-task run's
  checkpoint, else the BERT download's (None: random initialisation)."""
  return init_encoder_checkpoint or bert_files.checkpoint


class Trainer:
  """Holds a run's pieces; `train` (below) drives it from start to end."""

  def __init__(self, config: TrainConfig, bert_files: BertFiles, tasks,
               init_encoder_checkpoint: Optional[str] = None):
    self.start_checkpoint = start_checkpoint(bert_files,
                                             init_encoder_checkpoint)
    run_dir.check_same_run(config.output_dir, config, self.start_checkpoint)
    self.config = config
    self.bert_files = bert_files
    self.tasks = [dataclasses.replace(
        t, variational_dropout=config.variational_dropout) for t in tasks]
    self.task_index = {t.name: i for i, t in enumerate(self.tasks)}
    self._one_hot = {t.name: np.eye(len(self.tasks), dtype=np.int64)[i]
                     for i, t in enumerate(self.tasks)}
    self.strategy = distribution.make_strategy(config.distribution_strategy)
    tf_keras.utils.set_random_seed(config.seed)
    tf_keras.backend.experimental.enable_tf_random_generator()
    set_precision(config.mixed_precision)
    self.tokenizer = tokenization.FullTokenizer(
        bert_files.vocab_file, do_lower_case=config.do_lower_case)
    self.data = {
        t.name: task_data.load_task(
            t, config.data_dir, self.tokenizer, config.max_seq_length,
            cache_dir=config.cache_dir,
            second_text_first=config.second_text_first)
        for t in self.tasks}
    self.train_features = {name: self._training_features(splits)
                           for name, splits in self.data.items()}
    batches = {name: datasets.num_training_batches(len(f),
                                                   config.train_batch_size)
               for name, f in self.train_features.items()}
    self.schedule = sampling.make_schedule(
        config.sampler, batches, config.seed,
        num_epochs=max(1, math.ceil(config.num_train_epochs)),
        temperature=config.sampling_temperature)
    self.steps_per_epoch = self.schedule.steps_per_epoch
    self.total_steps = int(config.num_train_epochs * self.steps_per_epoch)
    if config.max_steps:
      self.total_steps = min(self.total_steps, config.max_steps)
    if self.total_steps < 1:
      raise ConfigError("the run has no training step: raise "
                        "--num_train_epochs or --max_steps")
    with self.strategy.scope():
      self.model = self._build_model(bert_files, init_encoder_checkpoint)
      self.optimizer = self._build_optimizer()
      self.state = TrainingState.create(len(self.tasks))
    self.history = []  # (step, task, loss) of every step this process ran
    # task -> decoded dev predictions of its best weights, kept from the
    # evaluation that found them so the results need not predict dev again.
    self._best_dev_predictions = {}
    self._predict_steps = {t.name: make_predict_step(self.model, t)
                           for t in self.tasks}
    self.checkpoint = multitask_model.model_checkpoint(
        self.model, optimizer=self.optimizer,
        dropout_generators=multitask_model.dropout_generators(self.model),
        **self.state.as_dict())
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(self._worker_dir(), run_dir.CHECKPOINTS),
        max_to_keep=config.keep_checkpoint_max)

  # --- construction -------------------------------------------------------

  def _training_features(self, splits):
    feats = list(splits["train"].features)
    if self.config.train_on_dev:
      feats += splits["dev"].features
    if not feats or not all(f.label is not None for f in feats):
      raise ConfigError("training data must be labelled")
    return feats

  def _build_model(self, bert_files, init_encoder_checkpoint):
    _, encoder = checkpoints.load_bert_encoder(
        bert_files, weights_from_elsewhere=bool(init_encoder_checkpoint))
    model = multitask_model.build_multitask_model(encoder, self.tasks)
    if init_encoder_checkpoint:
      multitask_model.restore_encoder(model, init_encoder_checkpoint)
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
    if self.config.mixed_precision == "fp16":
      optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    # Keras 2 optimizers must know every variable before the first step, or
    # the first step of a second task fails on its head's variables.
    optimizer.build(self.model.trainable_variables)
    return optimizer

  # --- places ---------------------------------------------------------------

  @property
  def is_chief(self) -> bool:
    resolver = self.strategy.cluster_resolver
    if resolver is None or not resolver.task_type:
      return True
    return (resolver.task_type == "chief" or
            (resolver.task_type == "worker" and resolver.task_id == 0 and
             "chief" not in resolver.cluster_spec().as_dict()))

  def _worker_dir(self) -> str:
    if self.is_chief:
      return self.config.output_dir
    resolver = self.strategy.cluster_resolver
    return os.path.join(self.config.output_dir,
                        f"worker_{resolver.task_type}_{resolver.task_id}")

  def _best_prefix(self, task_name: str) -> str:
    return run_dir.best_weights(self._worker_dir(), task_name)

  # --- the loop -------------------------------------------------------------

  def restore(self) -> bool:
    """Restores the last checkpoint of this output folder, if any."""
    latest = self.manager.latest_checkpoint
    if latest:
      self.checkpoint.read(latest).assert_existing_objects_matched()
      logging.info("Resumed from %s at step %d", latest,
                   int(self.state.global_step.numpy()))
    return latest is not None

  def batch_plan(self, name: str, start: int = 0):
    """Task `name`'s endless stream of training batch index arrays, from its
    batch number `start` on."""
    lengths = [len(f.input_word_ids) for f in self.train_features[name]]
    return datasets.training_stream(
        lengths, self.config.train_batch_size, self.config.seed,
        self.task_index[name], start=start,
        bucketing=self.config.length_bucketing)

  def pad_plan(self, name: str, plan) -> tf.data.Dataset:
    """Task `name`'s planned training batches, padded as the steps take them
    (lengths rounded for XLA only)."""
    return datasets.batch_dataset(
        self.train_features[name], plan, self.config.train_batch_size,
        with_labels=True,
        multiple=datasets.length_multiple(self.config.jit_compile))

  def _streams(self) -> Dict[str, object]:
    streams = {}
    for name in self.train_features:
      done = int(self.state.task_batches[self.task_index[name]].numpy())
      streams[name] = iter(self.pad_plan(name, self.batch_plan(name, done)))
    return streams

  def run(self) -> dict:
    """Trains to the end, evaluating and checkpointing; returns results."""
    config = self.config
    self._write_run_files()
    steps = {t.name: make_train_step(
        self.strategy, self.model, t, self.optimizer, config,
        datasets.batch_signature(self.train_features[t.name], True))
             for t in self.tasks}
    streams = self._streams()
    writer = tf.summary.create_file_writer(
        os.path.join(self._worker_dir(), "tensorboard"))
    start = int(self.state.global_step.numpy())
    self._clock = (time.monotonic(), float(self.state.wall_seconds.numpy()))
    progress = progress_lib.Progress(self.total_steps, start)
    running = {t.name: [] for t in self.tasks}
    epoch_tasks, epoch_of_tasks = None, -1
    saved_at = start
    for step in range(start, self.total_steps):
      epoch, position = divmod(step, self.steps_per_epoch)
      if epoch != epoch_of_tasks:
        epoch_tasks, epoch_of_tasks = self.schedule.tasks(epoch), epoch
      name = epoch_tasks[position]
      batch = next(streams[name])
      loss, norm = steps[name](batch)
      loss = float(loss)
      if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"the loss of task {name} is {loss} at step {step + 1}; the last "
            f"good checkpoint is {self.manager.latest_checkpoint}")
      self.state.global_step.assign_add(1)
      self.state.task_batches.assign_add(self._one_hot[name])
      running[name].append(loss)
      self.history.append((step + 1, name, loss))
      done = step + 1
      progress.update(done, name, loss,
                      int(batch["example_weight"].numpy().sum()),
                      force=done == self.total_steps)
      if done % config.log_every_steps == 0:
        self._log_training(writer, done, running, float(norm),
                           progress.examples_per_second())
      end_of_epoch = done % self.steps_per_epoch == 0
      stop = False
      if (end_of_epoch and config.eval_every_epochs and
          (done // self.steps_per_epoch) % config.eval_every_epochs == 0):
        stop = self._patience_exhausted(self.evaluate_dev(writer, done))
      if stop or end_of_epoch or done % config.save_checkpoints_steps == 0:
        self._save(done)
        saved_at = done
      if stop:
        logging.info("No dev improvement in %d evaluations: stopping early",
                     config.patience)
        break
    done = int(self.state.global_step.numpy())
    if (self.state.best_steps.numpy() < 0).any():
      self.evaluate_dev(writer, done)
    if saved_at != done:
      self._save(done)
    results = self.write_results()
    if self.is_chief:
      run_dir.write_timing(self.config.output_dir, self._wall_seconds(),
                           resumed=start > 0)
    return results

  def _wall_seconds(self) -> float:
    """Training wall time over every start of this run, until now."""
    began, before = self._clock
    return before + time.monotonic() - began

  def _save(self, step: int):
    self.state.wall_seconds.assign(self._wall_seconds())
    self.manager.save(step)

  def _patience_exhausted(self, improved: bool) -> bool:
    if improved:
      self.state.evals_since_best.assign(0)
    else:
      self.state.evals_since_best.assign_add(1)
    patience = self.config.patience
    return bool(patience) and int(self.state.evals_since_best.numpy()) >= patience

  def _log_training(self, writer, step, running, norm, examples_per_second):
    with writer.as_default(step=step):
      for name, losses in running.items():
        if losses:
          tf.summary.scalar(f"train_loss/{name}", np.mean(losses))
          losses.clear()
      tf.summary.scalar("learning_rate",
                        self.lr_schedule.learning_rate_at(step))
      tf.summary.scalar("gradient_norm", norm)
      tf.summary.scalar("examples_per_second", examples_per_second)

  # --- evaluation -----------------------------------------------------------

  def evaluate_dev(self, writer, step: int) -> bool:
    """Scores every task on dev; keeps each task's best weights.

    Returns:
      whether any task reached a new best dev score.
    """
    improved = False
    for task in self.tasks:
      split = self.data[task.name]["dev"]
      predictions = task_data.decode_predictions(
          task, split, predict(self._predict_steps[task.name], split,
                               self.config.eval_batch_size))
      scores = score_split(task, split, predictions)
      if scores is None:
        continue
      value = float(scores["value"])
      i = self.task_index[task.name]
      logging.info("step %d dev %s %s = %.4f", step, task.name,
                   scores["metric"], value)
      with writer.as_default(step=step):
        tf.summary.scalar(f"dev/{task.name}/{scores['metric']}", value)
      if math.isnan(value):
        value = -math.inf  # e.g. Pearson of constant predictions
      best = float(self.state.best_scores[i].numpy())
      if value > best or int(self.state.best_steps[i].numpy()) < 0:
        self.state.best_scores[i].assign(value)
        self.state.best_steps[i].assign(step)
        multitask_model.model_checkpoint(self.model).write(
            self._best_prefix(task.name))
        self._best_dev_predictions[task.name] = predictions
        improved = improved or value > best
    return improved

  def write_results(self) -> dict:
    """Predicts dev and test of every task with its best weights; writes the
    prediction files and results.json (chief only)."""
    results = {}
    out_dir = os.path.join(self.config.output_dir, run_dir.PREDICTIONS)
    final = multitask_model.model_checkpoint(self.model).write(
        run_dir.final_weights(self._worker_dir()))
    for task in self.tasks:
      has_best = int(self.state.best_steps[self.task_index[task.name]]) >= 0
      multitask_model.model_checkpoint(self.model).read(
          self._best_prefix(task.name) if has_best else final).expect_partial()
      predict_step = self._predict_steps[task.name]
      results[task.name] = {
          "best_step": int(self.state.best_steps[self.task_index[task.name]])}
      for split_name in ("dev", "test"):
        split = self.data[task.name][split_name]
        predictions = (self._best_dev_predictions.get(task.name)
                       if has_best and split_name == "dev" else None)
        if predictions is None:
          predictions = task_data.decode_predictions(
              task, split, predict(predict_step, split,
                                   self.config.eval_batch_size))
        if self.is_chief:
          os.makedirs(out_dir, exist_ok=True)
          task.write_predictions(
              split.path, predictions,
              os.path.join(out_dir, f"{task.name}_{split_name}.tsv"))
        scores = score_split(task, split, predictions)
        results[task.name][split_name] = (
            {} if scores is None else {scores["metric"]: scores["value"]})
    if self.is_chief:
      run_dir.write_results(self.config.output_dir, results)
    return results

  def _write_run_files(self):
    if self.is_chief:
      run_dir.write_run_files(self.config.output_dir, self.config,
                              self.bert_files.config_file,
                              self.bert_files.vocab_file, self.tasks,
                              self.start_checkpoint)


def train(config: TrainConfig, bert_files: BertFiles, tasks: Sequence,
          init_encoder_checkpoint: Optional[str] = None) -> dict:
  """Trains (or resumes) a run and returns results.json's content; a
  finished run (one with timing.json) is read back instead
  (`run_dir.read_finished_run`)."""
  if run_dir.is_finished(config.output_dir):
    return run_dir.read_finished_run(
        config.output_dir, config,
        start_checkpoint(bert_files, init_encoder_checkpoint))
  trainer = Trainer(config, bert_files, tasks, init_encoder_checkpoint)
  trainer.restore()
  return trainer.run()
