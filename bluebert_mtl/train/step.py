"""The compiled steps: one training step and one forward pass per task.

A training step takes one global batch of one task (`datasets.py` pads it to
the global batch size), runs forward and backward on this replica's rows,
all-reduces the loss sums, item counts and gradients over the replicas,
divides by the global item count (so the update is that of the global mean
loss whatever the replica count), clips the global gradient norm and applies
the task's gradients to the shared encoder and that task's head.

Every replica receives the whole global batch and takes its own slice of
rows, so no input pipeline needs sharding and every worker of a
multi-worker run reads the same batches.
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


def _replica_rows(batch: dict, ctx: tf.distribute.ReplicaContext) -> dict:
  """This replica's equal share of a global batch's rows."""
  n = ctx.num_replicas_in_sync
  if n == 1:
    return batch
  size = tf.shape(batch["input_word_ids"])[0] // n
  start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * size
  return {name: value[start:start + size] for name, value in batch.items()}


def model_inputs(batch: dict) -> dict:
  """The encoder's inputs of a batch dict (int32 [B, T] each)."""
  return {name: batch[name] for name in multitask_model.INPUT_NAMES}


def make_train_step(strategy, model, task, optimizer, config: TrainConfig,
                    batch_spec: dict):
  """One compiled training step of one task.

  Returns:
    a tf.function (global batch dict -> (mean loss, gradient norm before
    clipping)) traced once for open batch and sequence dimensions.
  """
  view = multitask_model.task_model(model, task.name)
  loss_fn = task.task_kind.loss
  loss_weight = config.loss_weight(task.name)
  loss_scaling = isinstance(optimizer,
                            tf_keras.mixed_precision.LossScaleOptimizer)
  variables = view.trainable_variables

  def forward_backward(rows):
    with tf.GradientTape() as tape:
      outputs = view(model_inputs(rows), training=True)
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
    grads = [_scale(merge_duplicate_rows(g), 1.0 / count) for g in grads]
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
