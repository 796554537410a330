"""A Hugging Face (PyTorch) BERT's weights, read by TF1 variable name.

`HFSource` lets `checkpoints.read_checkpoint` read a Hugging Face or PyTorch
BERT through the same checked name table (`checkpoints.tf1_variable_table`)
as a TF1 download: `hf_key` names the key holding each TF1 variable, and the
checks and errors are the TF1 path's, naming the weight file and the key.

Keys (docs/huggingface.md):
  bert.<encoder key> or <encoder key>   the encoder; `LayerNorm.gamma/beta`
                                        of early PyTorch ports read as
                                        `LayerNorm.weight/bias`
  classifier.*, qa_outputs.*,           task heads (BertFor... models,
  scoring_list.*                        MT-DNN / MT-BlueBERT): skipped, logged
  cls.*, embeddings.position_ids        pre-training heads, a buffer: skipped
  pooler.*                              absent from token-classification
                                        models: the encoder's pooler keeps
                                        BERT's initialisation (logged)
Any other key is an error naming it.
"""

import json
import re
from typing import Dict, List, Optional, Tuple

from absl import logging
import numpy as np

from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import CheckpointError
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import hf_weights
from bluebert_mtl.model.modeling import keras_activation

# Keys of weights a BERT encoder does not hold: task heads, pre-training
# heads, the position-id buffer.
HEAD_KEY = re.compile(r"^(classifier|qa_outputs|scoring_list)\.")
SKIPPED_KEY = re.compile(r"^(cls\.|embeddings\.position_ids$)")

# TF1 names a Hugging Face model may lack: BertForTokenClassification has no
# pooler.
OPTIONAL_NAMES = frozenset({"bert/pooler/dense/kernel",
                            "bert/pooler/dense/bias"})

# Last part of a TF1 name -> last part of the HF key.
_HF_LEAF = {"kernel": "weight", "bias": "bias", "gamma": "weight",
            "beta": "bias"}


def hf_key(tf1_name: str) -> Tuple[str, bool]:
  """The HF key holding a TF1 variable, and whether it is transposed.

  `bert/encoder/layer_0/attention/self/query/kernel` ->
  (`encoder.layer.0.attention.self.query.weight`, True): torch Linear weights
  are [out, in], TF1 dense kernels [in, out]. LayerNorm gamma/beta are HF
  weight/bias; embedding tables are `<table>.weight`.
  """
  parts = tf1_name.split("/")[1:]  # Drop the `bert` scope.
  leaf = parts[-1]
  if leaf in _HF_LEAF:
    parts[-1] = _HF_LEAF[leaf]
  else:
    parts.append("weight")
  key = re.sub(r"layer_(\d+)", r"layer.\1", ".".join(parts))
  return key, leaf == "kernel"


def read_bert_config(config_file: str) -> BertConfig:
  """Reads `bert_config.json` or HF `config.json`, refusing settings TF1 BERT
  cannot express (keys bert_config.json never has pass).

  Raises:
    ConfigError: naming the file and the key.
  """
  config = BertConfig.from_json_file(config_file)
  with open(config_file, encoding="utf-8") as f:
    values = json.load(f)
  tf1_fixed = {"model_type": "bert", "layer_norm_eps": 1e-12,
               "position_embedding_type": "absolute"}
  for key, tf1_value in tf1_fixed.items():
    if values.get(key, tf1_value) != tf1_value:
      raise ConfigError(f"{config_file}: {key}={values[key]!r}, but TF1 BERT "
                        f"has {tf1_value!r}")
  try:
    keras_activation(config.hidden_act)
  except ConfigError as e:
    raise ConfigError(f"{config_file}: {e}") from e
  return config


def _encoder_key(key: str) -> str:
  """A file's key as `hf_key` names it: no `bert.` prefix, LayerNorm
  gamma/beta as weight/bias."""
  key = key.removeprefix("bert.")
  return re.sub(r"(LayerNorm)\.(gamma|beta)$",
                lambda m: f"{m[1]}.{_HF_LEAF[m[2]]}", key)


class HFSource:
  """The weights of a Hugging Face / PyTorch BERT file, by TF1 name.

  Args:
    path: a weight file or index of `hf_weights` (model.safetensors,
      model.safetensors.index.json, pytorch_model.bin, an MT-DNN .pt).

  Raises:
    CheckpointError: see `hf_weights.read_weights`, or two keys that name
      the same weight (with and without `bert.`).
  """

  def __init__(self, path: str):
    self.where = path
    self.optional = OPTIONAL_NAMES
    self._weights: Dict[str, np.ndarray] = {}
    skipped = []
    for key, value in hf_weights.read_weights(path).items():
      if HEAD_KEY.match(key) or SKIPPED_KEY.match(key.removeprefix("bert.")):
        skipped.append(key)
        continue
      name = _encoder_key(key)
      if name in self._weights:
        raise CheckpointError(f"{path}: key {key} names the weight {name} a "
                              "second time")
      self._weights[name] = value
    heads = [key for key in skipped if HEAD_KEY.match(key)]
    if heads:
      logging.info("%s: skipped %d keys of task heads: %s", path, len(heads),
                   ", ".join(sorted(heads)))

  def describe(self, tf1_name: str) -> str:
    key, transpose = hf_key(tf1_name)
    return f"key {key}" + (" (transposed)" if transpose else "")

  def shape(self, tf1_name: str) -> Optional[Tuple[int, ...]]:
    """The TF1-layout shape of the variable, or None when absent."""
    key, transpose = hf_key(tf1_name)
    if key not in self._weights:
      return None
    shape = self._weights[key].shape
    return tuple(reversed(shape)) if transpose else tuple(shape)

  def read(self, tf1_name: str) -> np.ndarray:
    key, transpose = hf_key(tf1_name)
    value = self._weights[key].astype(np.float32)
    return value.T if transpose else value  # [out, in] -> [in, out]

  def unexpected(self, tf1_names) -> List[str]:
    """Keys that no name of `tf1_names` reads, sorted."""
    used = {hf_key(name)[0] for name in tf1_names}
    return [f"key {key}" for key in sorted(set(self._weights) - used)]
