"""Per-kind losses, as (weighted sum, count) pairs.

Each loss returns the sum of its per-item losses over the rows it is given and
the number of items that sum covers, so that a replica holding part of a
global batch divides by the count of the WHOLE global batch and the replicas'
gradients add up to the gradient of the global mean.

Dims: B batch, T sequence, C classes / labels. `weights` float32 [B] is 1 on
real rows and 0 on padding rows.
"""

import tensorflow as tf

from bluebert_mtl.data import features


def mean_squared_error(labels, outputs, weights):
  """Regression (STS). labels, outputs float32 [B]. Count = real rows."""
  sq = tf.math.squared_difference(labels, outputs)
  return tf.reduce_sum(sq * weights), tf.reduce_sum(weights)


def softmax_cross_entropy(labels, logits, weights):
  """Single-label classification. labels int32 [B]; logits [B, C]."""
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
  return tf.reduce_sum(ce * weights), tf.reduce_sum(weights)


def sigmoid_cross_entropy(labels, logits, weights):
  """Multi-label (HoC). labels float32 multi-hot [B, C]; logits [B, C].

  Averaged over rows x labels, as TF1 BlueBERT's HoC loss.
  """
  ce = tf.nn.sigmoid_cross_entropy_with_logits(labels, logits)  # [B, C]
  num_labels = tf.cast(tf.shape(logits)[-1], tf.float32)
  return (tf.reduce_sum(ce * weights[:, None]),
          tf.reduce_sum(weights) * num_labels)


def token_cross_entropy(labels, logits, weights):
  """Tagging (NER). labels int32 [B, T] with features.IGNORE_ID on positions
  out of the loss ([CLS], [SEP], later sub-tokens, padding); logits [B, T, C].

  Averaged over the labelled positions (first sub-tokens of words).
  """
  mask = tf.cast(labels != features.IGNORE_ID, tf.float32) * weights[:, None]
  safe_labels = tf.maximum(labels, 0)
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(safe_labels, logits)
  return tf.reduce_sum(ce * mask), tf.reduce_sum(mask)
