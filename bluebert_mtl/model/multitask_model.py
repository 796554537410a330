"""The multi-task model: one shared BERT encoder, one named head per task.

Dims: B batch, T sequence, H hidden, C outputs of a head.

  inputs  {input_word_ids, input_mask, input_type_ids}: int32 [B, T]
    -> encoder (TF Hub-style BERT layer): {sequence_output [B, T, H],
                                           pooled_output [B, H]}
    -> one head per task -> outputs {task key: float32 logits / scores}

Encoder and heads are saved apart: `encoder_checkpoint` holds the encoder
alone (the paper's "strip" of MT-DNN, reference.md 3.8), `model_checkpoint`
the encoder and every head.
"""

import os
from typing import Dict, Sequence

import tensorflow as tf
import tf_keras

from bluebert_mtl.model import modeling
from bluebert_mtl import task_kinds
from bluebert_mtl.errors import CheckpointError

INPUT_NAMES = modeling.ENCODER_INPUT_NAMES


def encoder_inputs() -> Dict[str, tf_keras.Input]:
  """Keras inputs of the encoder: int32 [B, T] each, T open."""
  return {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name)
          for name in INPUT_NAMES}


def build_multitask_model(encoder: tf_keras.layers.Layer,
                          tasks: Sequence) -> tf_keras.Model:
  """One functional model: shared encoder, one output per task.

  Args:
    encoder: the BERT layer (`modeling.build_bert_encoder`).
    tasks: `TaskSpec`s; each gets a fresh head named after its key.

  Returns:
    a `tf_keras.Model` whose outputs dict is keyed by task key.
  """
  inputs = encoder_inputs()
  encoder_outputs = encoder(inputs)
  outputs = {
      task.name: task_kinds.KINDS[task.kind].build_head(task)(encoder_outputs)
      for task in tasks
  }
  return tf_keras.Model(inputs, outputs, name="mt_bluebert")


def task_model(model: tf_keras.Model, task_name: str) -> tf_keras.Model:
  """A view of `model` computing only one task's output (shares weights)."""
  return tf_keras.Model(model.input, model.output[task_name],
                        name=f"{task_name}_model")


def encoder_of(model: tf_keras.Model) -> tf_keras.layers.Layer:
  """The shared encoder layer of a multi-task model."""
  heads = set(model.output_names)
  (encoder,) = [layer for layer in model.layers
                if layer.name not in heads and layer.name not in INPUT_NAMES]
  return encoder


def encoder_checkpoint(encoder: tf_keras.layers.Layer) -> tf.train.Checkpoint:
  """A checkpoint of the encoder alone (MT-DNN's "stripped" model)."""
  return tf.train.Checkpoint(encoder=encoder)


def restore_encoder(model: tf_keras.Model, path: str) -> None:
  """Loads the encoder weights of a run's checkpoint (or a folder holding
  one) into `model`, leaving its heads fresh: the paper's "strip" followed by
  new task layers. Every encoder variable must be found in the checkpoint.
  """
  restore_encoder_layer(encoder_of(model), path)


def restore_encoder_layer(encoder: tf_keras.layers.Layer, path: str) -> None:
  """`restore_encoder` for an encoder layer outside a multi-task model (e.g.
  feature extraction from a run)."""
  if os.path.isdir(path):
    latest = tf.train.latest_checkpoint(os.path.join(path, "checkpoints"))
    latest = latest or tf.train.latest_checkpoint(path)
    if latest is None:
      raise CheckpointError(f"no checkpoint found in {path}")
    path = latest
  status = encoder_checkpoint(encoder).read(path)
  status.expect_partial()
  try:
    status.assert_existing_objects_matched()
  except AssertionError as e:
    raise CheckpointError(
        f"{path}: does not hold this encoder's weights ({e})") from e


def dropout_generators(model: tf_keras.Model) -> Dict[str, tf.random.Generator]:
  """The random generators of the model's dropout layers, by layer path.

  tf-keras leaves them out of checkpoints; a resumable training checkpoint
  adds them so that a resumed run draws the same dropout masks as an
  uninterrupted one (needs `enable_tf_random_generator()` before the model is
  built).
  """
  generators = {}
  for i, layer in enumerate(model.submodules):
    generator = getattr(getattr(layer, "_random_generator", None),
                        "_generator", None)
    if generator is not None:
      generators[f"{i}_{layer.name}"] = generator
  return generators


def model_checkpoint(model: tf_keras.Model, **extra) -> tf.train.Checkpoint:
  """A checkpoint of the encoder and every head, by task key, plus `extra`."""
  heads = {name: model.get_layer(task_kinds.head_name(name))
           for name in model.output_names}
  return tf.train.Checkpoint(encoder=encoder_of(model), heads=heads, **extra)
