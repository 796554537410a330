"""Per-kind losses: a sum over items and the number of items it covers.

A loss is a `Loss`: `total(labels, outputs, weights)` sums the per-item
losses of the rows it is given and `count(labels, weights)` counts those
items, apart, so that the training step can count the items of the WHOLE
global batch before any forward pass and scale each replica's (and each
micro-batch's) sum by 1 / count: the replicas' gradients then add up to the
gradient of the global mean loss, whatever the replica and accumulation
counts (`train/step.py`), and a loss-scaled fp16 objective stays of the
order of the mean loss.

Dims: B batch, T sequence, C classes / labels. `weights` float32 [B] is 1 on
real rows and 0 on padding rows.
"""

import dataclasses
from typing import Callable

import tensorflow as tf

from bluebert_mtl.data import features


@dataclasses.dataclass(frozen=True)
class Loss:
  """A loss as a sum of item losses and a count of items.

  Attributes:
    total: (labels, outputs, weights) -> float32 scalar, the weighted sum.
    count: (labels, weights) -> float32 scalar, the items `total` sums.
  """
  total: Callable
  count: Callable

  def __call__(self, labels, outputs, weights):
    """(weighted sum, count) of the given rows."""
    return self.total(labels, outputs, weights), self.count(labels, weights)


def _rows(labels, weights):
  """Count = real rows."""
  del labels
  return tf.reduce_sum(weights)


def _squared_error(labels, outputs, weights):
  return tf.reduce_sum(tf.math.squared_difference(labels, outputs) * weights)


def _softmax_ce(labels, logits, weights):
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
  return tf.reduce_sum(ce * weights)


def _sigmoid_ce(labels, logits, weights):
  ce = tf.nn.sigmoid_cross_entropy_with_logits(labels, logits)  # [B, C]
  return tf.reduce_sum(ce * weights[:, None])


def _rows_times_labels(labels, weights):
  """Count = real rows x labels (HoC's loss is averaged over both, as TF1
  BlueBERT's)."""
  return tf.reduce_sum(weights) * tf.cast(tf.shape(labels)[-1], tf.float32)


def _token_mask(labels, weights):
  """float32 [B, T]: 1 on labelled positions of real rows."""
  return tf.cast(labels != features.IGNORE_ID, tf.float32) * weights[:, None]


def _token_ce(labels, logits, weights):
  safe_labels = tf.maximum(labels, 0)
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(safe_labels, logits)
  return tf.reduce_sum(ce * _token_mask(labels, weights))


def _tokens(labels, weights):
  return tf.reduce_sum(_token_mask(labels, weights))


# Regression (STS). labels, outputs float32 [B].
mean_squared_error = Loss(_squared_error, _rows)
# Single-label classification. labels int32 [B]; logits [B, C].
softmax_cross_entropy = Loss(_softmax_ce, _rows)
# Multi-label (HoC). labels float32 multi-hot [B, C]; logits [B, C].
sigmoid_cross_entropy = Loss(_sigmoid_ce, _rows_times_labels)
# Tagging (NER). labels int32 [B, T] with features.IGNORE_ID on positions out
# of the loss ([CLS], [SEP], later sub-tokens, padding); logits [B, T, C].
# Averaged over the labelled positions (first sub-tokens of words).
token_cross_entropy = Loss(_token_ce, _tokens)
