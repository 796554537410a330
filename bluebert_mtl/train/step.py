"""The compiled training step, one per task (the forward pass that predicts
is `model/inference.py`).

A training step is one update from one global batch of one task: it counts
the batch's loss items, runs forward and backward on this replica's share of
each micro-batch (`make_train_step`), all-reduces the loss sums and
gradients over the replicas, clips the global gradient norm and applies the
task's gradients to the shared encoder and that task's head. The update is
that of the global mean loss whatever the replica and accumulation counts;
no row is dropped (a batch is padded to `padded_rows`).

Every replica receives the whole global batch and takes its own rows, so no
input pipeline needs sharding and every worker of a multi-worker run reads
the same batches.
"""

import logging as logging_std
from typing import Optional

import tensorflow as tf
import tf_keras

from bluebert_mtl.config import TrainConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import multitask_model


class _FirstTracesFilter(logging_std.Filter):
  """Hides TF's retracing warning: each task's step function traces once on
  its first batch (open dimensions, no retracing after), which TF counts as
  "retracing" across the tasks' functions."""

  def filter(self, record):
    return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_FirstTracesFilter())


def set_precision(mixed_precision: Optional[str]):
  """Sets the Keras dtype policy: float32, or mixed bf16 / fp16."""
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


def merge_duplicate_rows(gradient):
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


def padded_rows(batch_size: int, num_replicas: int,
                accumulation_steps: int) -> int:
  """R, the rows a global training batch of `batch_size` examples is padded
  to: the smallest multiple of replicas x accumulation steps that holds it,
  so that every replica's share of every micro-batch has the same number of
  rows and no example is left out (padding rows have weight 0)."""
  parts = num_replicas * accumulation_steps
  return -(-batch_size // parts) * parts


def _share(batch: dict, ctx: tf.distribute.ReplicaContext,
           accumulation_steps: int, micro) -> dict:
  """This replica's rows of micro-batch `micro` of a padded global batch.

  Rows of the global batch [R, ...]: micro-batch k is rows
  [k * N * r, (k + 1) * N * r) with r = R / (K * N) rows per replica, and
  replica i takes rows [i * r, (i + 1) * r) of it.
  """
  n = ctx.num_replicas_in_sync
  rows = tf.shape(batch["input_word_ids"])[0] // (n * accumulation_steps)
  replica = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
  start = (micro * n + replica) * rows
  return {name: value[start:start + rows] for name, value in batch.items()}


def _dense(gradient):
  """A gradient as a dense tensor (IndexedSlices summed into rows)."""
  return tf.convert_to_tensor(gradient)


class _TrainStep:
  """The pieces of one task's compiled training step (`make_train_step`)."""

  def __init__(self, strategy, model, task, optimizer, config: TrainConfig):
    self.strategy = strategy
    self.view = multitask_model.task_model(model, task.name)
    self.loss = task.task_kind.loss
    self.loss_weight = config.loss_weight(task.name)
    self.accumulation = config.gradient_accumulation_steps
    self.clip_norm = config.clip_norm
    self.optimizer = optimizer
    self.loss_scaling = isinstance(
        optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    self.variables = self.view.trainable_variables
    if config.jit_compile:
      self.gradients = tf.function(self.gradients, jit_compile=True)

  def gradients(self, rows, scale):
    """(loss sum of the rows, gradients of loss sum x scale)."""
    optimizer = self.optimizer
    with tf.GradientTape() as tape:
      outputs = self.view(multitask_model.model_inputs(rows), training=True)
      loss_sum = self.loss.total(rows["label"], outputs,
                                 rows["example_weight"])
      objective = loss_sum * scale
      if self.loss_scaling:
        objective = optimizer.get_scaled_loss(objective)
    grads = tape.gradient(objective, self.variables)
    if self.loss_scaling:
      grads = optimizer.get_unscaled_gradients(grads)
    return loss_sum, grads

  def accumulate(self, batch, ctx, scale):
    """Loss sum and summed gradients of this replica's micro-batches, one
    after the other (a while loop: one micro-batch's activations at a
    time). A variable the task does not reach keeps a None gradient, so it
    is neither updated nor decayed, as with one micro-batch."""
    k = self.accumulation
    loss_sum, first = self.gradients(_share(batch, ctx, k, 0), scale)
    if k == 1:
      return loss_sum, first
    reached = [i for i, g in enumerate(first) if g is not None]
    sums = [_dense(first[i]) for i in reached]
    for micro in tf.range(1, k):
      part_sum, part = self.gradients(_share(batch, ctx, k, micro), scale)
      loss_sum += part_sum
      sums = [s + _dense(part[i]) for s, i in zip(sums, reached)]
    grads = [None] * len(first)
    for i, total in zip(reached, sums):
      grads[i] = total
    return loss_sum, grads

  def replica_step(self, batch):
    """This replica's share of the update: (mean loss, gradient norm before
    clipping, whether the gradients are finite)."""
    ctx = tf.distribute.get_replica_context()
    # Every replica holds the whole global batch: it counts its items alone.
    count = tf.maximum(
        self.loss.count(batch["label"], batch["example_weight"]), 1.0)
    loss_sum, grads = self.accumulate(batch, ctx, self.loss_weight / count)
    pairs = [(g, v) for g, v in zip(grads, self.variables) if g is not None]
    grads = [g for g, _ in pairs]
    if ctx.num_replicas_in_sync > 1:
      reduced = ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                               [loss_sum] + [_dense(g) for g in grads])
      loss_sum, grads = reduced[0], reduced[1:]
    grads = [merge_duplicate_rows(g) for g in grads]
    norm = tf.linalg.global_norm(grads)
    if self.clip_norm:
      grads, _ = tf.clip_by_global_norm(grads, self.clip_norm, norm)
    self.optimizer.apply_gradients(zip(grads, [v for _, v in pairs]),
                                   skip_gradients_aggregation=True)
    return loss_sum / count, norm, tf.math.is_finite(norm)

  def train_step(self, batch):
    """The update of one global batch (`make_train_step`'s Returns)."""
    strategy = self.strategy
    loss_value, norm, finite = strategy.run(self.replica_step, args=(batch,))
    first = strategy.experimental_local_results
    loss_value, norm, finite = (first(loss_value)[0], first(norm)[0],
                                first(finite)[0])
    if not self.loss_scaling:
      return loss_value, norm, tf.constant(True)
    if not finite:
      # tf-keras's LossScaleOptimizer counts a skipped update as an
      # iteration; take it back, so the learning-rate schedule advances
      # with applied updates only.
      self.optimizer.iterations.assign_sub(1)
    return loss_value, norm, finite


def make_train_step(strategy, model, task, optimizer, config: TrainConfig,
                    batch_spec: dict):
  """One compiled training step (one update) of one task.

  The global batch (padded to `padded_rows`) is split into K =
  gradient_accumulation_steps micro-batches run one after the other, each
  spread over the replicas. The items of the whole global batch are counted
  first (`losses.Loss.count`), so each share's loss sum is scaled by
  loss_weight / count before its backward pass: the summed gradients are
  those of the global mean loss, exactly as one replica with one batch
  would get them. Under fp16 the loss scale multiplies that normalised
  objective; an update whose gradients overflow is not applied.

  Returns:
    a tf.function (global batch dict -> (mean loss, gradient norm before
    clipping, whether the update was applied)) traced once for open batch
    and sequence dimensions.
  """
  step = _TrainStep(strategy, model, task, optimizer, config)
  return tf.function(step.train_step, input_signature=[batch_spec])
