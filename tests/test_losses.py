"""Per-kind losses against numpy: each returns (weighted sum, item count) so
that replicas' shares add up to the global mean (`model/losses.py`)."""

import numpy as np
import pytest
import tensorflow as tf

from bluebert_mtl.data import features
from bluebert_mtl.model import losses

# Three rows, the last a padding row (weight 0).
WEIGHTS = np.array([1.0, 1.0, 0.0], np.float32)


def _log_softmax(logits):
  shifted = logits - logits.max(-1, keepdims=True)
  return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def test_mean_squared_error():
  labels = np.array([1.0, 3.0, 100.0], np.float32)
  outputs = np.array([2.0, 1.0, 0.0], np.float32)
  total, count = losses.mean_squared_error(labels, outputs, WEIGHTS)
  assert float(total) == pytest.approx(1.0 + 4.0)
  assert float(count) == 2.0


def test_softmax_cross_entropy():
  logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0], [9.0, 0.0, 0.0]],
                    np.float32)
  labels = np.array([0, 1, 2], np.int32)
  total, count = losses.softmax_cross_entropy(labels, logits, WEIGHTS)
  expected = -(_log_softmax(logits)[0, 0] + _log_softmax(logits)[1, 1])
  assert float(total) == pytest.approx(expected, rel=1e-6)
  assert float(count) == 2.0


def test_sigmoid_cross_entropy_counts_rows_times_labels():
  logits = np.array([[1.0, -2.0], [0.0, 3.0], [5.0, 5.0]], np.float32)
  labels = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
  total, count = losses.sigmoid_cross_entropy(labels, logits, WEIGHTS)
  p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
  ce = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
  assert float(total) == pytest.approx(ce[:2].sum(), rel=1e-6)
  assert float(count) == 2.0 * 2  # real rows x labels


def test_token_cross_entropy_skips_ignored_positions_and_padding_rows():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 4, 3)).astype(np.float32)
  ignore = features.IGNORE_ID
  labels = np.array([[ignore, 2, ignore, 0], [ignore, 1, 1, ignore],
                     [ignore, 0, 0, ignore]], np.int32)
  total, count = losses.token_cross_entropy(labels, logits, WEIGHTS)
  log_p = _log_softmax(logits.astype(np.float64))
  kept = [(0, 1), (0, 3), (1, 1), (1, 2)]  # row 2 is padding
  expected = -sum(log_p[r, t, labels[r, t]] for r, t in kept)
  assert float(total) == pytest.approx(expected, rel=1e-6)
  assert float(count) == len(kept)


def test_replica_shares_add_up_to_the_global_sum():
  logits = tf.constant(np.random.default_rng(1).normal(size=(4, 3)),
                       tf.float32)
  labels = tf.constant([0, 2, 1, 1])
  weights = tf.ones([4])
  whole = losses.softmax_cross_entropy(labels, logits, weights)
  halves = [losses.softmax_cross_entropy(labels[i:i + 2], logits[i:i + 2],
                                         weights[i:i + 2]) for i in (0, 2)]
  assert float(whole[0]) == pytest.approx(
      sum(float(h[0]) for h in halves), rel=1e-6)
  assert float(whole[1]) == sum(float(h[1]) for h in halves)
