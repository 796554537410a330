"""An independent numpy BERT forward pass, the reference for the encoder tests.

Dims key:
  B: batch size.
  T: sequence length.
  H: hidden size.
  N: attention heads.
  D: size per head, H / N.
  I: intermediate (feed-forward) size.

Written from the BERT paper and google-research/bert `modeling.py` equations,
in float64, with TF1's constants: exact erf GELU, LayerNorm epsilon 1e-12,
additive attention mask -10000, post-LN blocks. Weights come by their TF1
checkpoint names (`bert/encoder/layer_0/attention/self/query/kernel`, dense
kernels [in, out]). It shares no code with `bluebert_mtl`. The helpers at
the end write random tiny checkpoints in the TF1 layout, the way TF1 did
(graph variables and a tf.compat.v1 Saver), with pre-training extras.
"""

import json
import math
import os

import numpy as np
from scipy import special


def gelu(x):
  """x * Phi(x) with the exact normal CDF."""
  return 0.5 * x * (1.0 + special.erf(x / math.sqrt(2.0)))


ACTIVATIONS = {"gelu": gelu, "relu": lambda x: np.maximum(x, 0.0),
               "tanh": np.tanh, "linear": lambda x: x}


def layer_norm(x, weights, scope):
  """LayerNorm over the last axis with TF1's epsilon 1e-12."""
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean) ** 2).mean(-1, keepdims=True)
  normed = (x - mean) / np.sqrt(var + 1e-12)
  return normed * weights[scope + "/gamma"] + weights[scope + "/beta"]


def dense(x, weights, scope):
  return x @ weights[scope + "/kernel"] + weights[scope + "/bias"]


def attention(x, mask, weights, scope, num_heads):
  """Multi-head self-attention.

  Args:
    x: float [B, T, H].
    mask: 0/1 [B, T], 1 for keys that may be attended to.
    weights: TF1 name -> array.
    scope: `bert/encoder/layer_<i>/attention`.
    num_heads: N.

  Returns:
    float [B, T, H], before the output dense layer.
  """
  b, t, h = x.shape
  d = h // num_heads

  def heads(name):
    y = dense(x, weights, f"{scope}/self/{name}")  # [B, T, H]
    return y.reshape(b, t, num_heads, d).transpose(0, 2, 1, 3)  # [B, N, T, D]

  q, k, v = heads("query"), heads("key"), heads("value")
  scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)  # [B, N, T, T]
  scores = scores + (1.0 - mask[:, None, None, :]) * -10000.0
  scores = scores - scores.max(-1, keepdims=True)
  probs = np.exp(scores)
  probs = probs / probs.sum(-1, keepdims=True)
  context = probs @ v  # [B, N, T, D]
  return context.transpose(0, 2, 1, 3).reshape(b, t, h)  # [B, T, H]


def bert_forward(weights, config, word_ids, mask, type_ids):
  """Runs BERT in float64.

  Args:
    weights: dict TF1 variable name -> numpy array.
    config: dict with `num_hidden_layers`, `num_attention_heads`,
      `hidden_act` (as in bert_config.json).
    word_ids, mask, type_ids: int [B, T].

  Returns:
    (sequence_output float64 [B, T, H], pooled_output float64 [B, H]).
  """
  w = {name: np.asarray(value, np.float64) for name, value in weights.items()}
  mask = np.asarray(mask, np.float64)
  t = word_ids.shape[1]
  x = (w["bert/embeddings/word_embeddings"][word_ids]
       + w["bert/embeddings/token_type_embeddings"][type_ids]
       + w["bert/embeddings/position_embeddings"][:t][None])  # [B, T, H]
  x = layer_norm(x, w, "bert/embeddings/LayerNorm")
  act = ACTIVATIONS[config["hidden_act"]]
  for i in range(config["num_hidden_layers"]):
    scope = f"bert/encoder/layer_{i}"
    context = attention(x, mask, w, scope + "/attention",
                        config["num_attention_heads"])
    x = layer_norm(x + dense(context, w, scope + "/attention/output/dense"),
                   w, scope + "/attention/output/LayerNorm")
    inner = act(dense(x, w, scope + "/intermediate/dense"))  # [B, T, I]
    x = layer_norm(x + dense(inner, w, scope + "/output/dense"),
                   w, scope + "/output/LayerNorm")
  pooled = np.tanh(dense(x[:, 0], w, "bert/pooler/dense"))  # [B, H]
  return x, pooled


# --- Test checkpoints in the original TF1 layout --------------------------

TINY_CONFIG = {
    "vocab_size": 20, "hidden_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 32, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 16, "type_vocab_size": 2,
    "initializer_range": 0.02,
}

# 20 WordPieces, ids 0..19, for TINY_CONFIG.
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat",
              "on", "mat", "dog", "##s", "a", ",", ".", "ran", "blue", "bert",
              "##ing", "run"]


def tf1_encoder_shapes(config):
  """TF1 name -> shape of every encoder variable (docs/original_system.md
  §4.2)."""
  h, i = config["hidden_size"], config["intermediate_size"]
  shapes = {
      "bert/embeddings/word_embeddings": (config["vocab_size"], h),
      "bert/embeddings/token_type_embeddings": (config["type_vocab_size"], h),
      "bert/embeddings/position_embeddings": (
          config["max_position_embeddings"], h),
  }
  scopes = {"bert/embeddings/LayerNorm": None, "bert/pooler/dense": (h, h)}
  for layer in range(config["num_hidden_layers"]):
    prefix = f"bert/encoder/layer_{layer}/"
    scopes.update({
        prefix + "attention/self/query": (h, h),
        prefix + "attention/self/key": (h, h),
        prefix + "attention/self/value": (h, h),
        prefix + "attention/output/dense": (h, h),
        prefix + "attention/output/LayerNorm": None,
        prefix + "intermediate/dense": (h, i),
        prefix + "output/dense": (i, h),
        prefix + "output/LayerNorm": None,
    })
  for scope, kernel in scopes.items():
    if kernel is None:  # LayerNorm
      shapes[scope + "/gamma"] = shapes[scope + "/beta"] = (h,)
    else:
      shapes[scope + "/kernel"] = kernel
      shapes[scope + "/bias"] = (kernel[1],)
  return shapes


def random_tf1_weights(config, seed=0):
  """Random encoder weights by TF1 name, float32, large enough to matter."""
  rng = np.random.default_rng(seed)
  weights = {}
  for name, shape in tf1_encoder_shapes(config).items():
    center = 1.0 if name.endswith("/gamma") else 0.0
    weights[name] = (center + 0.3 * rng.standard_normal(shape)).astype(
        np.float32)
  return weights


def pretraining_extras(weights, config):
  """What a real pre-training checkpoint holds beside the encoder."""
  h, v = config["hidden_size"], config["vocab_size"]
  extras = {"global_step": np.int64(1000),
            "cls/predictions/output_bias": np.zeros([v], np.float32),
            "cls/predictions/transform/dense/kernel": np.zeros([h, h],
                                                               np.float32),
            "cls/seq_relationship/output_weights": np.zeros([2, h], np.float32)}
  for name, value in weights.items():
    extras[name + "/adam_m"] = np.zeros_like(value)
    extras[name + "/adam_v"] = np.zeros_like(value)
  return extras


def write_tf1_checkpoint(variables, prefix):
  """Saves arrays as TF1 graph variables with a tf.compat.v1 Saver."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    tf_vars = [tf.compat.v1.Variable(value, name=name)
               for name, value in variables.items()]
    saver = tf.compat.v1.train.Saver(tf_vars)
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      saver.save(session, prefix, write_meta_graph=False)


def write_tiny_bert_dir(folder, config=None, seed=0):
  """Writes a BlueBERT-style download: bert_config.json, vocab.txt, checkpoint.

  Returns:
    (config dict, encoder weights by TF1 name).
  """
  config = dict(config or TINY_CONFIG)
  weights = random_tf1_weights(config, seed)
  with open(os.path.join(folder, "bert_config.json"), "w") as f:
    json.dump(config, f)
  with open(os.path.join(folder, "vocab.txt"), "w") as f:
    f.write("".join(token + "\n" for token in TINY_VOCAB))
  write_tf1_checkpoint({**weights, **pretraining_extras(weights, config)},
                       os.path.join(folder, "bert_model.ckpt"))
  return config, weights
