"""Task heads on the encoder's outputs.

Dims: B batch, T sequence, H hidden, C outputs of the head.
A head sees only the encoder's output dict (`sequence_output` float [B, T, H],
`pooled_output` float [B, H]), never encoder internals. Heads compute in the
layer's dtype policy and return float32 logits (numerically safe losses under
mixed precision).
"""

import tensorflow as tf
import tf_keras


def head_name(task_name: str) -> str:
  """The Keras name of a task's head layer and model output: the task key."""
  return task_name


def _head_initializer():
  """Truncated normal(0.02), as BERT initialises its task layers."""
  return tf_keras.initializers.TruncatedNormal(stddev=0.02)


class PooledHead(tf_keras.layers.Layer):
  """Dropout + dense on `pooled_output` (tanh dense on [CLS]).

  Serves classification / inference / relation (softmax logits), multi-label
  (sigmoid logits) and regression (`squeeze=True`: one score per row).

  Args:
    num_outputs: C.
    dropout_rate: dropout on the pooled output (paper: 0.1 on task layers).
    squeeze: return [B] instead of [B, 1] (regression; needs C == 1).

  Call: encoder outputs dict -> float32 [B, C] (or [B] when squeezed).
  """

  def __init__(self, num_outputs: int, dropout_rate: float = 0.1,
               squeeze: bool = False, **kwargs):
    super().__init__(**kwargs)
    # === Config ===
    self.num_outputs = num_outputs
    self.dropout_rate = dropout_rate
    self.squeeze = squeeze
    # === Layers ===
    self.dropout = tf_keras.layers.Dropout(dropout_rate, name="dropout")
    self.dense = tf_keras.layers.Dense(
        num_outputs, kernel_initializer=_head_initializer(), name="logits")

  def call(self, encoder_outputs, training=None):
    x = self.dropout(encoder_outputs["pooled_output"], training=training)
    logits = tf.cast(self.dense(x), tf.float32)  # [B, C]
    return tf.squeeze(logits, -1) if self.squeeze else logits

  def get_config(self):
    return dict(super().get_config(), num_outputs=self.num_outputs,
                dropout_rate=self.dropout_rate, squeeze=self.squeeze)


class TokenHead(tf_keras.layers.Layer):
  """Dropout + dense on every position of `sequence_output` (NER tags).

  Args:
    num_outputs: C, the number of tags.
    dropout_rate: dropout on the sequence output.
    variational_dropout: one dropout mask per row shared by all positions,
      as MT-BlueBERT's code does by default (`--vb_dropout`,
      docs/original_system.md §3.2); the paper describes plain dropout, which is
      the default here.

  Call: encoder outputs dict -> float32 [B, T, C].
  """

  def __init__(self, num_outputs: int, dropout_rate: float = 0.1,
               variational_dropout: bool = False, **kwargs):
    super().__init__(**kwargs)
    # === Config ===
    self.num_outputs = num_outputs
    self.dropout_rate = dropout_rate
    self.variational_dropout = variational_dropout
    # === Layers ===
    noise_shape = (None, 1, None) if variational_dropout else None
    self.dropout = tf_keras.layers.Dropout(
        dropout_rate, noise_shape=noise_shape, name="dropout")
    self.dense = tf_keras.layers.Dense(
        num_outputs, kernel_initializer=_head_initializer(), name="logits")

  def call(self, encoder_outputs, training=None):
    x = self.dropout(encoder_outputs["sequence_output"], training=training)
    return tf.cast(self.dense(x), tf.float32)  # [B, T, C]

  def get_config(self):
    return dict(super().get_config(), num_outputs=self.num_outputs,
                dropout_rate=self.dropout_rate,
                variational_dropout=self.variational_dropout)
