"""The multi-task model: one shared BERT encoder, one named head per task.

Dims: B batch, T sequence, H hidden, C outputs of a head.

  inputs  {input_word_ids, input_mask, input_type_ids}: int32 [B, T]
    -> encoder (TF Hub-style BERT layer): {sequence_output [B, T, H],
                                           pooled_output [B, H]}
    -> one head per task -> outputs {task key: float32 logits / scores}

The encoder layer is called at most twice in the one functional model, with
the same weights: in full for the tagging heads (`TaskKind.token_level`),
and with its last block at [CLS] alone (`modeling.CLS_ONLY`) for the heads
that read `pooled_output`, which is then the full call's. A task's view
(`task_model`) computes only its own call.

Encoder and heads are saved apart: `encoder_checkpoint` holds the encoder
alone (the paper's "strip" of MT-DNN, docs/original_system.md §3.6),
`model_checkpoint` the encoder and every head.
"""

from typing import Callable, Dict, Sequence

import tensorflow as tf
import tf_keras

from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import CheckpointError
from bluebert_mtl.model import heads as heads_lib
from bluebert_mtl.model import modeling

INPUT_NAMES = modeling.ENCODER_INPUT_NAMES


def model_inputs(batch: dict) -> dict:
  """The encoder's inputs of a batch dict (int32 [B, T] each)."""
  return {name: batch[name] for name in INPUT_NAMES}


def encoder_inputs() -> Dict[str, tf_keras.Input]:
  """Keras inputs of the encoder: int32 [B, T] each, T open."""
  return {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name)
          for name in INPUT_NAMES}


def build_multitask_model(encoder: tf_keras.layers.Layer, tasks: Sequence,
                          cls_only_last_layer: bool = True
                          ) -> tf_keras.Model:
  """One functional model: shared encoder, one output per task.

  Args:
    encoder: the BERT layer (`modeling.build_bert_encoder`).
    tasks: `TaskSpec`s; each gets a fresh head named after its key.
    cls_only_last_layer: heads of sentence kinds (not `token_level`) read an
      encoder call whose last block runs at [CLS] alone (module docstring);
      False: every head reads the full call.

  Returns:
    a `tf_keras.Model` whose outputs dict is keyed by task key.
  """
  inputs = encoder_inputs()
  calls = {}  # output_range -> the encoder's outputs of that call

  def encoder_outputs(task):
    cls_only = cls_only_last_layer and not task.task_kind.token_level
    output_range = modeling.CLS_ONLY if cls_only else None
    if output_range not in calls:
      calls[output_range] = encoder(inputs, output_range=output_range)
    return calls[output_range]

  outputs = {task.name: task.task_kind.build_head(task)(encoder_outputs(task))
             for task in tasks}
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


def restore_encoder(model: tf_keras.Model, checkpoint: str) -> None:
  """Loads the encoder weights of a run's checkpoint prefix into `model`,
  leaving its heads fresh: the paper's "strip" followed by new task layers.
  Every encoder variable must be found in the checkpoint.
  """
  restore_encoder_layer(encoder_of(model), checkpoint)


def restore_encoder_layer(encoder: tf_keras.layers.Layer,
                          checkpoint: str) -> None:
  """`restore_encoder` for an encoder layer outside a multi-task model (e.g.
  feature extraction from a run)."""
  _read_all(encoder_checkpoint(encoder), checkpoint,
            lambda e: f"does not hold this encoder's weights ({e})")


def _read_all(checkpoint_object: tf.train.Checkpoint, checkpoint: str,
              missing: Callable[[AssertionError], str]) -> None:
  """Reads every variable of `checkpoint_object` from the prefix
  `checkpoint` (other variables there are ignored).

  Raises:
    CheckpointError: naming the checkpoint, when it cannot be read, or with
      `missing(error)` when it lacks a variable of `checkpoint_object`.
  """
  try:
    status = checkpoint_object.read(checkpoint)
  except (tf.errors.OpError, ValueError) as e:
    raise CheckpointError(f"{checkpoint}: cannot read the checkpoint: "
                          f"{e}") from e
  status.expect_partial()
  try:
    status.assert_existing_objects_matched()
  except AssertionError as e:
    raise CheckpointError(f"{checkpoint}: {missing(e)}") from e


def dropout_generators(model: tf_keras.Model) -> Dict[str, tf.random.Generator]:
  """The random generators of the model's dropout layers, by their position
  among the model's submodules and their class (never by Keras' numbered
  layer names, which differ when a process builds a second model).

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
      generators[f"{i}_{type(layer).__name__}"] = generator
  return generators


def model_checkpoint(model: tf_keras.Model, **extra) -> tf.train.Checkpoint:
  """A checkpoint of the encoder and every head, by task key, plus `extra`."""
  heads = {name: model.get_layer(heads_lib.head_name(name))
           for name in model.output_names}
  return tf.train.Checkpoint(encoder=encoder_of(model), heads=heads, **extra)


def restore_task_weights(model, task_name: str, checkpoint: str) -> None:
  """Reads the encoder and one head of a single-task model from a run's
  checkpoint.

  Raises:
    CheckpointError: naming the checkpoint, when it cannot be read or lacks
      the encoder or the task's head.
  """
  head = model.get_layer(heads_lib.head_name(task_name))
  parts = ((tf.train.Checkpoint(encoder=encoder_of(model)),
            "the encoder"),
           (tf.train.Checkpoint(heads={task_name: head}),
            f"a head of task {task_name}"))
  for checkpoint_object, what in parts:
    _read_all(checkpoint_object, checkpoint,
              lambda e, what=what: f"holds no weights of {what}")


def load_task_model(task, bert_config: BertConfig, checkpoint: str,
                    cls_only_last_layer: bool = True) -> tf_keras.Model:
  """A task's single-task model (`task_model`): a fresh encoder of
  `bert_config` and the task's head, with their weights from `checkpoint`
  (`cls_only_last_layer`: as `build_multitask_model`)."""
  model = build_multitask_model(modeling.build_bert_encoder(bert_config),
                                [task], cls_only_last_layer)
  restore_task_weights(model, task.name, checkpoint)
  return task_model(model, task.name)
