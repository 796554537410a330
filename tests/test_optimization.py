"""Tests of the learning-rate schedule, optimizers and clipping.

Expected values are worked out by hand or by a numpy re-implementation of
the update formulas written here, never by the code under test.
"""

import numpy as np
import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)
import tensorflow as tf
import tf_keras

from bluebert_mtl.train import optimization
from bluebert_mtl import config
from bluebert_mtl.errors import ConfigError

B1, B2, EPS, WD, CLIP = 0.9, 0.999, 1e-6, 0.01, 1.0

# Three variables; only the kernel is weight-decayed.
INITIAL = {
    "dense/kernel": np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]),
    "dense/bias": np.array([0.1, -0.2, 0.3]),
    "encoder/layer_norm/gamma": np.array([1.0, 1.0, 1.0]),
}
DECAYED = [True, False, False]

# Gradients of three steps, in INITIAL order. Global norms: sqrt(0.365) < 1
# (not clipped), sqrt(22) (clipped by 1/sqrt(22)), small.
GRADIENTS = [
    [np.array([[0.1, -0.2, 0.3], [0.0, 0.4, -0.1]]),
     np.array([0.05, 0.0, -0.05]),
     np.array([0.2, -0.1, 0.0])],
    [np.array([[2.0, -1.0, 0.0], [0.0, 3.0, 1.0]]),
     np.array([1.0, 1.0, -1.0]),
     np.array([0.0, 0.0, 2.0])],
    [np.array([[-0.05, 0.05, 0.0], [0.1, 0.0, 0.02]]),
     np.array([0.0, 0.01, 0.0]),
     np.array([-0.3, 0.1, 0.05])],
]


def _np_clip_global(grads, clip_norm):
  """g_i · c / max(‖g‖, c), with ‖g‖ the norm of all entries together."""
  norm = np.sqrt(sum(np.sum(g**2) for g in grads))
  return [g * clip_norm / max(norm, clip_norm) for g in grads], norm


def _np_adamax_update(state, g, t):
  """Kingma & Ba §7.1 as tf-keras: bias-corrected m, u = max(β2·u, |g|)."""
  state["m"] = B1 * state.get("m", 0.0) + (1 - B1) * g
  state["u"] = np.maximum(B2 * state.get("u", 0.0), np.abs(g))
  return state["m"] / ((1 - B1**t) * (state["u"] + EPS))


def _np_bert_adam_update(state, g, t, clip_norm=0.5):
  """BertAdam: per-tensor clip, no bias correction, m / (sqrt(v) + ε)."""
  del t  # No bias correction.
  g = g * clip_norm / max(np.sqrt(np.sum(g**2)), clip_norm)
  state["m"] = B1 * state.get("m", 0.0) + (1 - B1) * g
  state["v"] = B2 * state.get("v", 0.0) + (1 - B2) * g**2
  return state["m"] / (np.sqrt(state["v"]) + EPS)


def _np_optimize(update_fn, learning_rates):
  """θ ← θ − lr_t · (update_t + wd·θ), after global clipping at 1."""
  params = [value.copy() for value in INITIAL.values()]
  states = [{} for _ in params]
  for t, (grads, lr) in enumerate(zip(GRADIENTS, learning_rates), start=1):
    grads, _ = _np_clip_global(grads, CLIP)
    for i, g in enumerate(grads):
      update = update_fn(states[i], g, t)
      params[i] = params[i] - lr * (update + WD * DECAYED[i] * params[i])
  return params


def _float32(arrays):
  return [tf.constant(a, tf.float32) for a in arrays]


def _tf_optimize(make_optimizer, mode):
  """Runs the three steps with tf-keras in `mode`; returns the variables.

  Modes: eager; eager with each variable's update XLA-compiled; in a
  tf.function; in a tf.function under a (one-device) MirroredStrategy.
  """
  strategy = (tf.distribute.MirroredStrategy(["/cpu:0"])
              if mode == "mirrored" else tf.distribute.get_strategy())
  with strategy.scope():
    variables = [tf.Variable(value, dtype=tf.float32, name=name)
                 for name, value in INITIAL.items()]
    optimizer = make_optimizer()
    if mode == "xla":  # The default on a GPU; tf-keras turns it off on CPU.
      optimizer.jit_compile = True
    optimizer_split = optimization.build_optimizer_for(optimizer, variables)
  assert optimizer_split.decayed == ("dense/kernel:0",)

  def step(grads):
    optimizer.apply_gradients(zip(grads, variables))

  run = {
      "eager": step,
      "xla": step,
      "tf_function": tf.function(step),
      "mirrored": tf.function(lambda grads: strategy.run(step, args=(grads,))),
  }[mode]
  for grads in GRADIENTS:
    run(_float32(grads))
  assert int(optimizer.iterations.numpy()) == 3
  return [v.numpy() for v in variables]


class TestWarmupLinearDecay:
  # η = 2, T = 100, w = 10.
  STEPS = [0, 5, 9, 10, 11, 55, 99, 100, 120]
  # 2·t/10 in warm-up, then 2·(100 − t)/90.
  LINEAR = [0.0, 1.0, 1.8, 2.0, 2 * 89 / 90, 1.0, 2 / 90, 0.0, 0.0]
  # 2·t/10 in warm-up, then 2·(1 − t/100): 1.8 at the boundary.
  WARMUP_LINEAR = [0.0, 1.0, 1.8, 1.8, 1.78, 0.9, 0.02, 0.0, 0.0]

  @pytest.mark.parametrize("variant, expected", [
      ("linear", LINEAR), ("warmup_linear", WARMUP_LINEAR)])
  def test_values_at_hand_picked_steps(self, variant, expected):
    schedule = optimization.WarmupLinearDecay(2.0, 100, 10, variant)
    in_python = [schedule.learning_rate_at(t) for t in self.STEPS]
    in_graph = [float(schedule(tf.constant(t, tf.int64))) for t in self.STEPS]
    np.testing.assert_allclose(in_python, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(in_graph, expected, rtol=1e-6, atol=1e-7)

  def test_fractional_warmup_as_in_the_original(self):
    # T = 25, warm-up 10 % = 2.5 steps: the original tests t/T < 0.1.
    schedule = optimization.WarmupLinearDecay(1.0, 25, 2.5, "warmup_linear")
    assert schedule.learning_rate_at(2) == pytest.approx(2 / 2.5)
    assert schedule.learning_rate_at(3) == pytest.approx(1 - 3 / 25)

  def test_no_warmup(self):
    schedule = optimization.WarmupLinearDecay(1.0, 4, 0)
    assert [schedule.learning_rate_at(t) for t in range(5)] == pytest.approx(
        [1.0, 0.75, 0.5, 0.25, 0.0])

  def test_linear_equals_tf_models_warmup_over_polynomial_decay(self):
    from official.modeling.optimization import lr_schedule  # pylint: disable=g-import-not-at-top
    reference = lr_schedule.LinearWarmup(
        lr_schedule.PolynomialDecayWithOffset(
            offset=10, initial_learning_rate=2.0, decay_steps=90,
            end_learning_rate=0.0, power=1.0),
        warmup_steps=10, warmup_learning_rate=0.0)
    schedule = optimization.WarmupLinearDecay(2.0, 100, 10)
    steps = tf.range(111)
    np.testing.assert_allclose(
        tf.map_fn(schedule, steps, fn_output_signature=tf.float32),
        tf.map_fn(reference, steps, fn_output_signature=tf.float32),
        rtol=1e-6, atol=1e-7)

  def test_config_round_trip(self):
    schedule = optimization.WarmupLinearDecay(3e-5, 50, 5, "warmup_linear")
    restored = optimization.WarmupLinearDecay.from_config(
        schedule.get_config())
    assert restored.learning_rate_at(7) == schedule.learning_rate_at(7)

  @pytest.mark.parametrize("args, message", [
      ((1.0, 10, 2, "cosine"), "unknown learning-rate schedule"),
      ((1.0, 0, 0), "total_steps"),
      ((1.0, 10, 11), "warmup_steps"),
  ])
  def test_bad_arguments(self, args, message):
    with pytest.raises(ConfigError, match=message):
      optimization.WarmupLinearDecay(*args)


@pytest.mark.parametrize("mode", ["eager", "xla", "tf_function", "mirrored"])
class TestUpdatesAgainstNumpy:

  def test_adamax(self, mode):
    # lr(t) = 0.1·(4 − t)/4 for t = 0, 1, 2 (no warm-up).
    schedule = optimization.WarmupLinearDecay(0.1, 4, 0)
    expected = _np_optimize(_np_adamax_update, [0.1, 0.075, 0.05])
    actual = _tf_optimize(
        lambda: optimization.create_optimizer("adamax", schedule), mode)
    for a, e in zip(actual, expected):
      np.testing.assert_allclose(a, e, rtol=2e-5, atol=1e-6)

  def test_bert_adam(self, mode):
    # warmup_linear, T = 10, w = 1: lr = 0, 0.1·0.9, 0.1·0.8.
    schedule = optimization.WarmupLinearDecay(0.1, 10, 1, "warmup_linear")
    expected = _np_optimize(_np_bert_adam_update, [0.0, 0.09, 0.08])
    actual = _tf_optimize(
        lambda: optimization.create_optimizer(
            "bert_adam", schedule, per_tensor_clipnorm=0.5), mode)
    for a, e in zip(actual, expected):
      np.testing.assert_allclose(a, e, rtol=2e-5, atol=1e-6)


class TestBertAdam:

  def _two_steps_then_save(self, path):
    variables = [tf.Variable(v, dtype=tf.float32) for v in INITIAL.values()]
    optimizer = optimization.BertAdam(0.01, weight_decay=WD)
    optimization.build_optimizer_for(optimizer, variables)
    for grads in GRADIENTS[:2]:
      optimizer.apply_gradients(zip(_float32(grads), variables))
    tf.train.Checkpoint(optimizer=optimizer, variables=variables).write(path)
    return optimizer, variables

  def test_checkpoint_restores_slots_and_step(self, tmp_path):
    path = str(tmp_path / "ckpt")
    optimizer, variables = self._two_steps_then_save(path)
    restored_variables = [tf.Variable(tf.zeros_like(v)) for v in variables]
    restored = optimization.BertAdam(0.01, weight_decay=WD)
    optimization.build_optimizer_for(restored, restored_variables)
    tf.train.Checkpoint(optimizer=restored,
                        variables=restored_variables).read(path).assert_consumed()
    assert int(restored.iterations.numpy()) == 2
    for opt, variable_list in ((optimizer, variables),
                               (restored, restored_variables)):
      opt.apply_gradients(zip(_float32(GRADIENTS[2]), variable_list))
    for a, b in zip(optimizer.variables, restored.variables):
      np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(variables, restored_variables):
      np.testing.assert_array_equal(a.numpy(), b.numpy())

  def test_sparse_gradient_is_applied_densely(self):
    # Rows without a gradient still see their m decay, as in PyTorch:
    # after g = e_0 then nothing, row 1 keeps m = 0 and row 0 moves twice.
    table = tf.Variable(tf.ones([2, 2]))
    optimizer = optimization.BertAdam(1.0)
    optimization.build_optimizer_for(optimizer, [table])
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.gather(table, [0]))
    sparse = tape.gradient(loss, table)
    assert isinstance(sparse, tf.IndexedSlices)
    optimizer.apply_gradients([(sparse, table)])
    # m = 0.1, v = 0.001: θ = 1 − 0.1/(sqrt(0.001) + 1e-6).
    expected_row0 = 1 - 0.1 / (np.sqrt(0.001) + EPS)
    np.testing.assert_allclose(table.numpy(),
                               [[expected_row0] * 2, [1.0, 1.0]], rtol=1e-5)

  def test_config_round_trip(self):
    schedule = optimization.WarmupLinearDecay(2e-5, 100, 10, "warmup_linear")
    optimizer = optimization.create_optimizer(
        "bert_adam", schedule, per_tensor_clipnorm=1.0)
    restored = optimization.BertAdam.from_config(optimizer.get_config())
    assert restored.per_tensor_clipnorm == 1.0
    assert restored.epsilon == 1e-6
    assert restored.weight_decay == 0.01
    assert restored.global_clipnorm == 1.0
    assert isinstance(restored._learning_rate,  # pylint: disable=protected-access
                      optimization.WarmupLinearDecay)


class TestCreateOptimizer:

  @pytest.mark.parametrize("name, cls", [
      ("adamax", tf_keras.optimizers.Adamax),
      ("bert_adam", optimization.BertAdam),
      ("adamw", tf_keras.optimizers.AdamW),
  ])
  def test_names(self, name, cls):
    assert name in config.OPTIMIZERS
    assert set(optimization._OPTIMIZERS) == set(config.OPTIMIZERS)
    optimizer = optimization.create_optimizer(name, 1e-3)
    assert isinstance(optimizer, cls)
    assert optimizer.epsilon == 1e-6
    assert optimizer.weight_decay == 0.01
    assert optimizer.global_clipnorm == 1.0

  def test_no_global_clipping(self):
    optimizer = optimization.create_optimizer("adamax", 1e-3,
                                              global_clipnorm=None)
    assert optimizer.global_clipnorm is None

  def test_unknown_name(self):
    with pytest.raises(ConfigError, match="unknown optimizer 'sgd'"):
      optimization.create_optimizer("sgd", 1e-3)

  def test_per_tensor_clipping_is_bert_adam_only(self):
    with pytest.raises(ConfigError, match="BertAdam option"):
      optimization.create_optimizer("adamax", 1e-3, per_tensor_clipnorm=1.0)

  def test_build_on_all_variables_before_the_first_step(self):
    head_a = tf.Variable([1.0], name="head_a/kernel")
    head_b = tf.Variable([1.0], name="head_b/kernel")
    grad = tf.constant([1.0])
    unbuilt = optimization.create_optimizer("bert_adam", 1e-3)
    unbuilt.apply_gradients([(grad, head_a)])
    with pytest.raises(KeyError, match="cannot recognize variable"):
      unbuilt.apply_gradients([(grad, head_b)])
    built = optimization.create_optimizer("bert_adam", 1e-3)
    optimization.build_optimizer_for(built, [head_a, head_b])
    built.apply_gradients([(grad, head_a)])
    built.apply_gradients([(grad, head_b)])
    assert int(built.iterations.numpy()) == 2


class TestWeightDecayOfBertEncoder:
  # Names below the encoder's scope, grouped by hand.
  DECAYED = {
      "word_embeddings/embeddings:0",
      "position_embedding/embeddings:0",
      "type_embeddings/embeddings:0",
      "transformer/layer_0/self_attention/query/kernel:0",
      "transformer/layer_0/self_attention/key/kernel:0",
      "transformer/layer_0/self_attention/value/kernel:0",
      "transformer/layer_0/self_attention/attention_output/kernel:0",
      "transformer/layer_0/intermediate/kernel:0",
      "transformer/layer_0/output/kernel:0",
      "pooler_transform/kernel:0",
  }
  NOT_DECAYED = {
      "embeddings/layer_norm/gamma:0",
      "embeddings/layer_norm/beta:0",
      "transformer/layer_0/self_attention/query/bias:0",
      "transformer/layer_0/self_attention/key/bias:0",
      "transformer/layer_0/self_attention/value/bias:0",
      "transformer/layer_0/self_attention/attention_output/bias:0",
      "transformer/layer_0/self_attention_layer_norm/gamma:0",
      "transformer/layer_0/self_attention_layer_norm/beta:0",
      "transformer/layer_0/intermediate/bias:0",
      "transformer/layer_0/output/bias:0",
      "transformer/layer_0/output_layer_norm/gamma:0",
      "transformer/layer_0/output_layer_norm/beta:0",
      "pooler_transform/bias:0",
  }

  @staticmethod
  def _encoder_variables():
    from official.nlp.modeling import networks  # pylint: disable=g-import-not-at-top
    encoder = networks.BertEncoderV2(vocab_size=30, hidden_size=8,
                                     num_layers=1, num_attention_heads=2,
                                     inner_dim=16)
    ids = tf.zeros([1, 4], tf.int32)
    encoder({"input_word_ids": ids, "input_mask": tf.ones_like(ids),
             "input_type_ids": ids})
    return encoder.trainable_variables

  def test_layer_norm_and_bias_are_excluded(self, caplog):
    variables = self._encoder_variables()
    optimizer = optimization.create_optimizer("adamax", 0.1)
    # The absl logger by name: once TensorFlow has configured absl logging
    # (earlier tests in the suite), the root logger's level does not reach it.
    with caplog.at_level("INFO", logger="absl"):
      split = optimization.build_optimizer_for(optimizer, variables)
    strip_scope = lambda names: {n.split("/", 1)[1] for n in names}
    assert strip_scope(split.decayed) == self.DECAYED
    assert strip_scope(split.not_decayed) == self.NOT_DECAYED
    # Decayed: 30·8 + 512·8 + 16·8 + 4·64 + 2·128 + 64 = 5040 parameters;
    # not: 6 LayerNorm vectors of 8 + biases 3·8 + 8 + 16 + 8 + 8 = 112.
    assert ("on 10 tensors (5040 parameters), none on 13 tensors "
            "(112 parameters)") in caplog.text

    # One step with zero gradients moves only by the decay: θ·(1 − lr·wd).
    before = [v.numpy() for v in variables]
    optimizer.apply_gradients(
        [(tf.zeros_like(v), v) for v in variables])
    for variable, old in zip(variables, before):
      name = variable.name.split("/", 1)[1]
      factor = 1 - 0.1 * WD if name in self.DECAYED else 1.0
      np.testing.assert_allclose(variable.numpy(), old * factor, rtol=1e-6,
                                 err_msg=name)
