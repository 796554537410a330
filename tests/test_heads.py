"""Task heads: dense layers on the encoder's pooled or sequence output, float32
logits whatever the dtype policy, dropout only in training (`model/heads.py`)."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from bluebert_mtl.model import heads

B, T, H = 3, 5, 4


def _encoder_outputs(seed=0):
  rng = np.random.default_rng(seed)
  return {"pooled_output": tf.constant(rng.normal(size=(B, H)), tf.float32),
          "sequence_output": tf.constant(rng.normal(size=(B, T, H)),
                                         tf.float32)}


def test_pooled_head_is_a_dense_layer_on_the_pooled_output():
  outputs = _encoder_outputs()
  head = heads.PooledHead(3, dropout_rate=0.5, name="chemprot")
  logits = head(outputs, training=False).numpy()
  kernel, bias = (w.numpy() for w in head.dense.weights)
  np.testing.assert_allclose(
      logits, outputs["pooled_output"].numpy() @ kernel + bias, rtol=1e-5,
      atol=1e-6)
  assert logits.shape == (B, 3) and logits.dtype == np.float32


def test_regression_head_squeezes_to_one_score_per_row():
  head = heads.PooledHead(1, squeeze=True)
  assert head(_encoder_outputs(), training=False).shape == (B,)


def test_token_head_scores_every_position():
  outputs = _encoder_outputs()
  head = heads.TokenHead(3, dropout_rate=0.1)
  logits = head(outputs, training=False).numpy()
  kernel, bias = (w.numpy() for w in head.dense.weights)
  np.testing.assert_allclose(
      logits, outputs["sequence_output"].numpy() @ kernel + bias, rtol=1e-5,
      atol=1e-6)
  assert logits.shape == (B, T, 3)


def _dropped(head, outputs):
  """Which inputs of the dense layer were zeroed, with an identity kernel."""
  head(outputs, training=False)  # build
  head.dense.set_weights([np.eye(H, dtype=np.float32),
                          np.zeros(H, np.float32)])
  return head(outputs, training=True).numpy() == 0.0


@pytest.mark.parametrize("variational", [True, False])
def test_token_head_dropout_masks(variational):
  tf_keras.utils.set_random_seed(3)
  outputs = _encoder_outputs()
  dropped = _dropped(heads.TokenHead(H, dropout_rate=0.5,
                                     variational_dropout=variational), outputs)
  assert dropped.any() and not dropped.all()
  same_for_every_position = (dropped == dropped[:, :1, :]).all()
  assert same_for_every_position == variational


def test_heads_return_float32_under_mixed_precision():
  tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    pooled = heads.PooledHead(2)(_encoder_outputs(), training=False)
    tokens = heads.TokenHead(2)(_encoder_outputs(), training=False)
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")
  assert pooled.dtype == tf.float32 and tokens.dtype == tf.float32


def test_config_round_trip():
  head = heads.TokenHead(7, dropout_rate=0.2, variational_dropout=True,
                         name="ner")
  again = heads.TokenHead.from_config(head.get_config())
  assert (again.num_outputs, again.dropout_rate, again.variational_dropout,
          again.name) == (7, 0.2, True, "ner")
