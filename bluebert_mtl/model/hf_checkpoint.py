"""Writes a Hugging Face BERT (safetensors) as an original TF1 BERT checkpoint.

  python -m bluebert_mtl.commands.convert_checkpoint --input_dir=HF_MODEL_DIR \
      --output_dir=OUT

HF_MODEL_DIR holds `config.json`, `model.safetensors` and `vocab.txt`; the
keys may carry a `bert.` prefix or not. OUT receives what a BlueBERT download
holds: `bert_config.json`, `bert_model.ckpt.index`,
`bert_model.ckpt.data-00000-of-00001`, `checkpoint` and `vocab.txt`, with the
TF1 variable names of reference.md section 4.2. The demo and benchmarks use it
to turn the MiniLM package into a BlueBERT stand-in.
"""

import json
import os
import re
import shutil
from typing import Dict, Tuple

from absl import logging
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file
import tensorflow as tf

from bluebert_mtl.model.checkpoints import check_vocab_matches_config
from bluebert_mtl.model.checkpoints import tf1_variable_table
from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import CheckpointError
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model.modeling import keras_activation
from bluebert_mtl.tokenization import load_vocab

CHECKPOINT_NAME = "bert_model.ckpt"

# HF keys that hold no weight of the TF1 encoder: the position-id buffer and
# the pre-training heads (TF1 `cls/`, which the encoder loader skips too).
_SKIPPED_HF_KEY = re.compile(r"^(embeddings\.position_ids|cls\..*)$")

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


def read_hf_config(config_file: str) -> BertConfig:
  """Reads HF `config.json`, refusing settings TF1 BERT cannot express."""
  config = BertConfig.from_json_file(config_file)
  with open(config_file, encoding="utf-8") as f:
    values = json.load(f)
  tf1_fixed = {"layer_norm_eps": 1e-12, "position_embedding_type": "absolute"}
  for key, tf1_value in tf1_fixed.items():
    if values.get(key, tf1_value) != tf1_value:
      raise ConfigError(f"{config_file}: {key}={values[key]!r}, but TF1 BERT "
                        f"has {tf1_value!r}")
  try:
    keras_activation(config.hidden_act)
  except ConfigError as e:
    raise ConfigError(f"{config_file}: {e}") from e
  return config


def read_safetensors(weights_file: str) -> Dict[str, np.ndarray]:
  """HF key (without `bert.` prefix) -> array."""
  try:
    weights = load_file(weights_file)
  except (FileNotFoundError, SafetensorError) as e:
    raise CheckpointError(
        f"{weights_file}: cannot read safetensors: {e}") from e
  return {key.removeprefix("bert."): value for key, value in weights.items()}


def convert_hf_to_tf1(input_dir: str, output_dir: str) -> str:
  """Converts a Hugging Face BERT folder to a TF1 BERT checkpoint folder.

  Args:
    input_dir: folder with `config.json`, `model.safetensors`, `vocab.txt`.
    output_dir: folder to write (created if needed).

  Returns:
    the checkpoint prefix, `<output_dir>/bert_model.ckpt`.

  Raises:
    ConfigError: config.json unusable, or vocab.txt of another size.
    DataError: vocab.txt unreadable (see `tokenization.load_vocab`).
    CheckpointError: a weight missing, mis-shaped or not consumed, naming the
      key and `model.safetensors`.
  """
  config_file = os.path.join(input_dir, "config.json")
  weights_file = os.path.join(input_dir, "model.safetensors")
  vocab_file = os.path.join(input_dir, "vocab.txt")
  config = read_hf_config(config_file)
  check_vocab_matches_config(len(load_vocab(vocab_file)), config, vocab_file)
  weights = read_safetensors(weights_file)

  names, tensors = [], []
  for mapping in tf1_variable_table(config):
    key, transpose = hf_key(mapping.tf1_name)
    if key not in weights:
      raise CheckpointError(f"{weights_file}: key {key} is missing (needed "
                            f"for TF1 variable {mapping.tf1_name})")
    value = weights.pop(key).astype(np.float32)
    if transpose:
      value = value.T  # [out, in] -> [in, out]
    if value.shape != mapping.tf1_shape:
      raise CheckpointError(
          f"{weights_file}: key {key} gives shape {list(value.shape)} for "
          f"{mapping.tf1_name}, config.json implies {list(mapping.tf1_shape)}")
    names.append(mapping.tf1_name)
    tensors.append(np.ascontiguousarray(value))
  unused = sorted(k for k in weights if not _SKIPPED_HF_KEY.match(k))
  if unused:
    raise CheckpointError(f"{weights_file}: key {unused[0]} is not part of a "
                          f"BERT encoder (unused: {', '.join(unused)})")

  os.makedirs(output_dir, exist_ok=True)
  prefix = os.path.join(output_dir, CHECKPOINT_NAME)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                    shape_and_slices=[""] * len(names), tensors=tensors)
  # The TF1 `checkpoint` state file, a text proto with a relative path.
  with open(os.path.join(output_dir, "checkpoint"), "w", encoding="utf-8") as f:
    f.write(f'model_checkpoint_path: "{CHECKPOINT_NAME}"\n'
            f'all_model_checkpoint_paths: "{CHECKPOINT_NAME}"\n')
  with open(os.path.join(output_dir, "bert_config.json"), "w",
            encoding="utf-8") as f:
    f.write(config.to_json_string())
  shutil.copyfile(vocab_file, os.path.join(output_dir, "vocab.txt"))
  logging.info("Wrote %d TF1 variables to %s", len(names), prefix)
  return prefix
