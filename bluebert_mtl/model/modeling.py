"""The BlueBERT encoder: tf-models-official's BERT encoder set up as TF1 BERT.

Dims key:
  B: batch size.
  T: sequence length (unknown until run time).
  H: hidden size.
  N: attention heads.
  I: intermediate (feed-forward) size.
  V: vocabulary size.

`build_bert_encoder` returns a `BlueBertEncoder`, tf-models-official's
`BertEncoderV2` with BlueBERT's math (docs/original_system.md §4.1): post-LN
blocks, LayerNorm epsilon 1e-12, exact erf GELU, dense(H) + tanh pooler on
position 0. Its layer names are what `checkpoints.py` maps the TF1 variable
names onto. Called with `output_range=CLS_ONLY`, the same layer (the same
weights) computes the last block at [CLS] alone: all a pooled head reads.

`save_hub_module` writes the encoder as a TF Hub-style SavedModel that
`hub.KerasLayer` loads without this package.
"""

import math
from typing import Callable, Optional, Union

import tensorflow as tf
import tf_keras
from official.nlp.modeling import networks

from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import ConfigError


@tf_keras.utils.register_keras_serializable(package="bluebert_mtl")
def gelu_erf(x: tf.Tensor) -> tf.Tensor:
  """Exact GELU, x * Phi(x) with the erf-based normal CDF (TF1 BERT `gelu`).

  Registered under the name "bluebert_mtl>gelu_erf", so a config or a Keras
  SavedModel names this function and never the string "gelu", which
  official.modeling.tf_utils.get_activation maps to the tanh approximation
  (about 1e-3 away).

  Args:
    x: float Tensor of any shape.

  Returns:
    float Tensor of the same shape and dtype.
  """
  return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


# `hidden_act` of bert_config.json -> Keras activation; the four that
# google-research/bert `modeling.get_activation` accepts.
HIDDEN_ACTIVATIONS = {
    "gelu": gelu_erf,
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}

ENCODER_INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")
# `output_range` of a call whose readers need position 0 ([CLS]) alone.
CLS_ONLY = 1


def keras_activation(hidden_act: str) -> Union[str, Callable[..., tf.Tensor]]:
  """The Keras activation for a `hidden_act` of bert_config.json.

  Raises:
    ConfigError: `hidden_act` is not one TF1 BERT knows.
  """
  if hidden_act not in HIDDEN_ACTIVATIONS:
    raise ConfigError(f"hidden_act {hidden_act!r} is not one of "
                      f"{sorted(HIDDEN_ACTIVATIONS)}")
  return HIDDEN_ACTIVATIONS[hidden_act]


@tf_keras.utils.register_keras_serializable(package="bluebert_mtl")
class BlueBertEncoder(networks.BertEncoderV2):
  """`BertEncoderV2` whose every call chooses how much of the last block runs.

  `call(inputs, output_range=None)` computes the whole encoder; with
  `output_range=R` the last transformer block still projects keys and values
  at every position, but its queries, attention output, residuals,
  LayerNorms and feed-forward only at positions [0, R)
  (tf-models' `TransformerEncoderBlock` `output_range`). Then
  `sequence_output` and the last of `encoder_outputs` are [B, R, H], and
  `pooled_output` [B, H] equals the full call's (same arithmetic on the
  positions kept; docs/architecture.md). The earlier blocks always run in
  full: their every position feeds the last block's keys and values.

  One instance, one set of variables, serves both modes, so a model may call
  it twice (`multitask_model.build_multitask_model`) and checkpoints, the
  TF1 name table and saved weights are those of `BertEncoderV2`.
  """

  def call(self, inputs, output_range: Optional[int] = None):
    # BertEncoderV2.call hands `self._output_range` to its last block alone;
    # set on every call, so the constructor's value never applies.
    self._output_range = output_range
    return super().call(inputs)


def build_bert_encoder(config: BertConfig,
                       name: str = "bert_encoder") -> tf_keras.layers.Layer:
  """Builds a BERT encoder with BlueBERT's architecture and random weights.

  The layer takes a dict of int32 [B, T] Tensors `input_word_ids`,
  `input_mask` (1 for real tokens, 0 for padding) and `input_type_ids`, and
  returns a dict with `sequence_output` float32 [B, T, H] (last block),
  `pooled_output` float32 [B, H] (tanh dense on position 0) and
  `encoder_outputs` (list of the L float32 [B, T, H] block outputs); called
  with `output_range=CLS_ONLY`, the last block's outputs are [B, 1, H]
  (`BlueBertEncoder`).

  The attention mask is additive -1e9 (tf_keras masked softmax) where TF1 BERT
  added -10000: after the softmax both give padded keys a weight that is 0 in
  float32, so every unmasked position has identical outputs. Outputs at padded
  query positions are not meaningful in either.

  The layer is returned built (called once on a [1, 1] dummy batch), so its
  variables exist and are named `<name>/...` for the checkpoint loader.

  Args:
    config: the architecture, as read from `bert_config.json`.
    name: Keras name of the layer and prefix of its variable names.

  Returns:
    a built `BlueBertEncoder` layer.

  Raises:
    ConfigError: `config.hidden_act` is not one TF1 BERT knows.
  """
  encoder = BlueBertEncoder(
      vocab_size=config.vocab_size,
      hidden_size=config.hidden_size,
      num_layers=config.num_hidden_layers,
      num_attention_heads=config.num_attention_heads,
      max_sequence_length=config.max_position_embeddings,
      type_vocab_size=config.type_vocab_size,
      inner_dim=config.intermediate_size,
      inner_activation=keras_activation(config.hidden_act),
      output_dropout=config.hidden_dropout_prob,
      attention_dropout=config.attention_probs_dropout_prob,
      initializer=tf_keras.initializers.TruncatedNormal(
          stddev=config.initializer_range),
      name=name)
  dummy = tf.ones([1, 1], tf.int32)  # [B=1, T=1]
  encoder({"input_word_ids": dummy, "input_mask": dummy,
           "input_type_ids": tf.zeros_like(dummy)})
  return encoder


def save_hub_module(encoder: tf_keras.layers.Layer, path: str) -> None:
  """Exports `encoder` as a TF Hub-style SavedModel (reusable Keras format).

  `hub.KerasLayer(path)` then takes the same dict of int32 [B, T] inputs and
  returns the same output dict, for any B and T, with or without this
  package imported. The `serving_default` signature takes the three inputs by
  name.

  Args:
    encoder: a layer made by `build_bert_encoder`.
    path: folder to write.
  """
  inputs = {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name)
            for name in ENCODER_INPUT_NAMES}  # each [B, T]
  model = tf_keras.Model(inputs, encoder(inputs))
  model.save(path, include_optimizer=False, save_format="tf")
