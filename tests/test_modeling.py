"""The encoder against the independent numpy BERT (tests/numpy_bert.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import special

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)
import tensorflow as tf
import tf_keras

from bluebert_mtl.model import modeling
from bluebert_mtl.model.checkpoints import load_checkpoint
from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import ConfigError
import numpy_bert

# Two texts of 7 and 4 tokens, the second padded: [B=2, T=7].
WORD_IDS = np.array([[2, 5, 6, 7, 3, 9, 3], [2, 10, 11, 3, 0, 0, 0]], np.int32)
MASK = (WORD_IDS > 0).astype(np.int32)
TYPE_IDS = np.array([[0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0]], np.int32)
INPUTS = {"input_word_ids": WORD_IDS, "input_mask": MASK,
          "input_type_ids": TYPE_IDS}
TOLERANCE = 1e-5


def _loaded_encoder(tmp_path, config_dict):
  """An encoder loaded from a random tiny TF1 checkpoint, and its weights."""
  _, weights = numpy_bert.write_tiny_bert_dir(str(tmp_path), config_dict)
  config = BertConfig.from_dict(config_dict)
  encoder = modeling.build_bert_encoder(config)
  load_checkpoint(encoder, str(tmp_path / "bert_model.ckpt"), config)
  return encoder, weights


def assert_matches_numpy_bert(outputs, weights, config_dict, inputs=None):
  """Compares unmasked positions and the pooled output to numpy BERT."""
  inputs = inputs or INPUTS
  want_seq, want_pooled = numpy_bert.bert_forward(
      weights, config_dict, inputs["input_word_ids"], inputs["input_mask"],
      inputs["input_type_ids"])
  real = np.asarray(inputs["input_mask"]).astype(bool)
  seq_diff = np.abs(np.asarray(outputs["sequence_output"])[real]
                    - want_seq[real]).max()
  pooled_diff = np.abs(np.asarray(outputs["pooled_output"])
                       - want_pooled).max()
  assert seq_diff <= TOLERANCE, seq_diff
  assert pooled_diff <= TOLERANCE, pooled_diff


def test_gelu_erf_is_the_exact_gelu():
  x = np.linspace(-6.0, 6.0, 241)
  want = x * 0.5 * (1.0 + special.erf(x / np.sqrt(2.0)))
  got = modeling.gelu_erf(tf.constant(x, tf.float32)).numpy()
  np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("hidden_act", ["gelu", "relu", "tanh"])
def test_encoder_matches_numpy_bert(tmp_path, hidden_act):
  config_dict = {**numpy_bert.TINY_CONFIG, "hidden_act": hidden_act}
  encoder, weights = _loaded_encoder(tmp_path, config_dict)
  outputs = encoder(INPUTS, training=False)
  assert outputs["sequence_output"].dtype == tf.float32
  assert outputs["sequence_output"].shape == (2, 7, 16)
  assert outputs["pooled_output"].shape == (2, 16)
  assert_matches_numpy_bert(outputs, weights, config_dict)


def test_sequence_length_unknown_at_trace_time(tmp_path):
  encoder, weights = _loaded_encoder(tmp_path, numpy_bert.TINY_CONFIG)
  spec = tf.TensorSpec([None, None], tf.int32)
  run = tf.function(lambda ids, mask, types: encoder(
      {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types},
      training=False), input_signature=[spec, spec, spec])
  for length in (7, 4):
    inputs = {name: value[:, :length] for name, value in INPUTS.items()}
    outputs = run(inputs["input_word_ids"], inputs["input_mask"],
                  inputs["input_type_ids"])
    assert_matches_numpy_bert(outputs, weights, numpy_bert.TINY_CONFIG, inputs)


def test_config_round_trip_keeps_exact_gelu(tmp_path):
  encoder, weights = _loaded_encoder(tmp_path, numpy_bert.TINY_CONFIG)
  serialized = tf_keras.layers.serialize(encoder)
  assert serialized["config"]["inner_activation"] == "bluebert_mtl>gelu_erf"
  rebuilt = tf_keras.layers.deserialize(serialized)
  rebuilt(INPUTS)
  rebuilt.set_weights(encoder.get_weights())
  assert_matches_numpy_bert(rebuilt(INPUTS, training=False), weights,
                            numpy_bert.TINY_CONFIG)


def test_encoder_takes_the_config_hyperparameters():
  config = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2,
                      num_attention_heads=2, intermediate_size=12,
                      hidden_dropout_prob=0.2,
                      attention_probs_dropout_prob=0.3,
                      max_position_embeddings=24, type_vocab_size=3,
                      initializer_range=0.05)
  got = modeling.build_bert_encoder(config).get_config()
  assert (got["output_dropout"], got["attention_dropout"]) == (0.2, 0.3)
  assert (got["max_sequence_length"], got["type_vocab_size"]) == (24, 3)
  assert got["initializer"]["config"]["stddev"] == 0.05
  assert got["inner_dim"] == 12


def test_unknown_hidden_act_is_a_config_error():
  config = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=8,
                      hidden_act="swishy")
  with pytest.raises(ConfigError, match="swishy"):
    modeling.build_bert_encoder(config)


# Loads the SavedModel where bluebert_mtl cannot be imported, as a TF Hub
# user would, and writes the two outputs.
_HUB_USER = """
import sys
import numpy as np
import tensorflow_hub as hub
layer = hub.KerasLayer(sys.argv[1])
outputs = layer(dict(np.load(sys.argv[2])))
np.savez(sys.argv[3], sequence_output=outputs["sequence_output"].numpy(),
         pooled_output=outputs["pooled_output"].numpy())
"""


def test_hub_module_matches_numpy_bert_without_the_package(tmp_path):
  encoder, weights = _loaded_encoder(tmp_path, numpy_bert.TINY_CONFIG)
  module = str(tmp_path / "hub")
  modeling.save_hub_module(encoder, module)
  np.savez(tmp_path / "inputs.npz", **INPUTS)
  env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONPATH": ""}
  subprocess.run([sys.executable, "-c", _HUB_USER, module,
                  str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz")],
                 check=True, cwd=tmp_path, env=env)
  assert_matches_numpy_bert(dict(np.load(tmp_path / "out.npz")), weights,
                            numpy_bert.TINY_CONFIG)


# "[CLS] the cat sat [SEP] on the mat [SEP]", a padded single text and a
# padded pair, in BERT's uncased vocab (MiniLM's): [B=3, T=9].
MINILM_WORD_IDS = np.array(
    [[101, 1996, 4937, 2938, 102, 2006, 1996, 13523, 102],
     [101, 2061, 2024, 102, 0, 0, 0, 0, 0],
     [101, 4937, 102, 13523, 2938, 102, 0, 0, 0]], np.int32)
MINILM_INPUTS = {
    "input_word_ids": MINILM_WORD_IDS,
    "input_mask": (MINILM_WORD_IDS > 0).astype(np.int32),
    "input_type_ids": np.array([[0] * 5 + [1] * 4, [0] * 9,
                                [0] * 3 + [1] * 3 + [0] * 3], np.int32)}


def test_cls_only_last_block_matches_numpy_bert_on_minilm(minilm_encoder):
  encoder, weights, config_dict = minilm_encoder
  want_seq, want_pooled = numpy_bert.bert_forward(
      weights, config_dict, MINILM_WORD_IDS, MINILM_INPUTS["input_mask"],
      MINILM_INPUTS["input_type_ids"])
  cls = encoder(MINILM_INPUTS, output_range=modeling.CLS_ONLY, training=False)
  full = encoder(MINILM_INPUTS, training=False)
  # The last block's outputs at [CLS] alone; the earlier blocks' in full.
  assert cls["sequence_output"].shape == (3, 1, 384)
  assert [o.shape[1] for o in cls["encoder_outputs"]] == [9] * 5 + [1]
  assert np.abs(cls["sequence_output"].numpy()[:, 0]
                - want_seq[:, 0]).max() <= TOLERANCE
  assert np.abs(cls["pooled_output"].numpy() - want_pooled).max() <= TOLERANCE
  assert np.abs(cls["pooled_output"].numpy()
                - full["pooled_output"].numpy()).max() <= TOLERANCE
  # A call without output_range after one with it is the full encoder again.
  assert encoder(MINILM_INPUTS)["sequence_output"].shape == (3, 9, 384)
