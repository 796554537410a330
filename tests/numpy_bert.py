"""An independent numpy BERT forward pass: the reference the encoder is tested against.

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
kernels [in, out]). It shares no code with `bluebert_mtl`.
"""

import math

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
