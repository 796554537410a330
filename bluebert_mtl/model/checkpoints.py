"""Loads BERT / BlueBERT checkpoints into the encoder: TF1 or Hugging Face.

Dims key:
  H: hidden size.
  N: attention heads.
  D: size per head, H / N.
  I: intermediate (feed-forward) size.
  V: vocabulary size.
  P: max_position_embeddings.
  S: type_vocab_size.

`tf1_variable_table` is the whole mapping: one row per TF1 variable
(docs/original_system.md §4.2), naming the encoder variable it fills and both
shapes. Every checkpoint is read through it by TF1 name, from a source: a TF1
checkpoint (`TF1Source`) or a Hugging Face / PyTorch weight file
(`hf_source.HFSource`, which finds each TF1 name's key), so both meet the
same checks and errors. Known extras of a pre-training checkpoint (Adam
slots, `global_step`, the `cls/` heads) are skipped by rule; any other
unmatched name is an error. Everything is read and checked before the first
variable is assigned, so a bad checkpoint never leaves the encoder
half-loaded.
"""

import dataclasses
import json
import os
from typing import Dict, List, Optional, Tuple

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from bluebert_mtl.config import BertConfig
from bluebert_mtl.config import BertFiles
from bluebert_mtl.errors import CheckpointError
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import hf_source
from bluebert_mtl.model import hf_weights
from bluebert_mtl.model.modeling import build_bert_encoder
from bluebert_mtl.tokenization import load_vocab

# Checkpoint names the encoder does not use (docs/original_system.md §4.2).
SKIPPED_SUFFIXES = ("/adam_m", "/adam_v")  # Adam slots of every variable.
SKIPPED_NAMES = ("global_step",)
SKIPPED_PREFIXES = ("cls/",)  # masked-LM and next-sentence heads.


@dataclasses.dataclass(frozen=True)
class VariableMapping:
  """One TF1 checkpoint variable and the encoder variable it fills.

  Attributes:
    tf1_name: name in the TF1 checkpoint, e.g. `bert/pooler/dense/kernel`.
    encoder_name: name of the encoder variable below the encoder's own scope
      and without `:0`, e.g. `pooler_transform/kernel`.
    tf1_shape: shape in the checkpoint.
    encoder_shape: shape of the encoder variable; differs from `tf1_shape`
      only by a reshape (the per-head attention layouts).
  """
  tf1_name: str
  encoder_name: str
  tf1_shape: Tuple[int, ...]
  encoder_shape: Tuple[int, ...]


def _same(tf1_name: str, encoder_name: str,
          shape: Tuple[int, ...]) -> VariableMapping:
  return VariableMapping(tf1_name, encoder_name, shape, shape)


def _dense(tf1_scope: str, encoder_scope: str, kernel: Tuple[int, ...],
           bias: Tuple[int, ...], kernel_as: Optional[Tuple[int, ...]] = None,
           bias_as: Optional[Tuple[int, ...]] = None) -> List[VariableMapping]:
  """Kernel and bias of a TF1 `tf.layers.dense` ([in, out], [out])."""
  return [
      VariableMapping(f"{tf1_scope}/kernel", f"{encoder_scope}/kernel", kernel,
                      kernel_as or kernel),
      VariableMapping(f"{tf1_scope}/bias", f"{encoder_scope}/bias", bias,
                      bias_as or bias),
  ]


def _layer_norm(tf1_scope: str, encoder_scope: str,
                hidden: int) -> List[VariableMapping]:
  return [_same(f"{tf1_scope}/gamma", f"{encoder_scope}/gamma", (hidden,)),
          _same(f"{tf1_scope}/beta", f"{encoder_scope}/beta", (hidden,))]


def tf1_variable_table(config: BertConfig) -> List[VariableMapping]:
  """The TF1 BERT variables of `config`, each with its encoder variable."""
  h, n, i = (config.hidden_size, config.num_attention_heads,
             config.intermediate_size)
  d = h // n
  table = [
      _same("bert/embeddings/word_embeddings", "word_embeddings/embeddings",
            (config.vocab_size, h)),  # [V, H]
      _same("bert/embeddings/token_type_embeddings",
            "type_embeddings/embeddings",
            (config.type_vocab_size, h)),  # [S, H]
      _same("bert/embeddings/position_embeddings",
            "position_embedding/embeddings",
            (config.max_position_embeddings, h)),  # [P, H]
      *_layer_norm("bert/embeddings/LayerNorm", "embeddings/layer_norm", h),
  ]
  for layer in range(config.num_hidden_layers):
    tf1 = f"bert/encoder/layer_{layer}"
    ours = f"transformer/layer_{layer}"
    for part in ("query", "key", "value"):
      # [H, H] -> [H, N, D] and [H] -> [N, D] for the per-head einsum.
      table += _dense(f"{tf1}/attention/self/{part}",
                      f"{ours}/self_attention/{part}", (h, h), (h,),
                      kernel_as=(h, n, d), bias_as=(n, d))
    # [H, H] -> [N, D, H]: the input axis split by head.
    table += _dense(f"{tf1}/attention/output/dense",
                    f"{ours}/self_attention/attention_output", (h, h), (h,),
                    kernel_as=(n, d, h))
    table += _layer_norm(f"{tf1}/attention/output/LayerNorm",
                         f"{ours}/self_attention_layer_norm", h)
    table += _dense(f"{tf1}/intermediate/dense", f"{ours}/intermediate",
                    (h, i), (i,))
    table += _dense(f"{tf1}/output/dense", f"{ours}/output", (i, h), (h,))
    table += _layer_norm(f"{tf1}/output/LayerNorm", f"{ours}/output_layer_norm",
                         h)
  table += _dense("bert/pooler/dense", "pooler_transform", (h, h), (h,))
  return table


def is_skipped(tf1_name: str) -> bool:
  """Whether a checkpoint name is a known extra the encoder does not use."""
  return (tf1_name.endswith(SKIPPED_SUFFIXES) or tf1_name in SKIPPED_NAMES or
          tf1_name.startswith(SKIPPED_PREFIXES))


def encoder_variables(
    encoder: tf_keras.layers.Layer) -> Dict[str, tf.Variable]:
  """The encoder's variables by name below its own scope, without `:0`."""
  scope = encoder.name + "/"
  variables = {}
  for variable in encoder.variables:
    outer, found, name = variable.name.rpartition(":")[0].partition(scope)
    if not found or (outer and not outer.endswith("/")):
      raise ValueError(f"encoder variable {variable.name} is not below the "
                       f"encoder's scope {scope}")
    variables[name] = variable
  return variables


class TF1Source:
  """The variables of a TF1 checkpoint, by name (see `read_checkpoint`).

  Args:
    checkpoint_prefix: e.g. `DIR/bert_model.ckpt` (files `<prefix>.index`,
      `<prefix>.data-*`).

  Raises:
    CheckpointError: naming `<prefix>.index`, when it cannot be opened.
  """

  optional = frozenset()  # A TF1 BERT checkpoint holds every variable.

  def __init__(self, checkpoint_prefix: str):
    self.prefix = checkpoint_prefix
    self.where = f"{checkpoint_prefix}.index"
    try:
      self._reader = tf.train.load_checkpoint(checkpoint_prefix)
    except (tf.errors.OpError, ValueError) as e:
      raise CheckpointError(
          f"{self.where}: cannot open the TF1 checkpoint: {e}") from e
    self._shapes = self._reader.get_variable_to_shape_map()

  def describe(self, tf1_name: str) -> str:
    return f"variable {tf1_name}"

  def shape(self, tf1_name: str) -> Optional[Tuple[int, ...]]:
    shape = self._shapes.get(tf1_name)
    return None if shape is None else tuple(shape)

  def read(self, tf1_name: str) -> np.ndarray:
    # A missing or truncated `.data-*` file shows up only here: the reader
    # raises OpError (e.g. DataLossError) or, for short reads, IndexError.
    try:
      return self._reader.get_tensor(tf1_name)
    except (tf.errors.OpError, IndexError) as e:
      raise CheckpointError(
          f"{self.prefix}.data-*: cannot read variable {tf1_name}: "
          f"{e}") from e

  def unexpected(self, tf1_names) -> List[str]:
    """Variables neither in `tf1_names` nor skipped by rule, sorted."""
    return [f"variable {name}" for name in sorted(self._shapes)
            if name not in tf1_names and not is_skipped(name)]


def open_source(checkpoint: str):
  """The weight source of a checkpoint path: a TF1 prefix (`TF1Source`), or
  a Hugging Face / PyTorch weight file or index (`hf_source.HFSource`)."""
  if hf_weights.is_weight_file(checkpoint):
    return hf_source.HFSource(checkpoint)
  return TF1Source(checkpoint)


def read_checkpoint(
    source, config: BertConfig) -> List[Tuple[VariableMapping, np.ndarray]]:
  """Reads and checks every encoder variable of a weight source.

  Args:
    source: a `TF1Source` or `hf_source.HFSource`: `where` (the file errors
      name), `describe`, `shape` and `read` by TF1 name, `unexpected` and
      `optional` (names it may lack).
    config: the architecture the weights must have.

  Returns:
    (mapping, float32 array in `mapping.encoder_shape`) for every row of
    `tf1_variable_table(config)` the source holds: all of them but absent
    `source.optional` ones (logged; their encoder variables keep BERT's
    initialisation).

  Raises:
    CheckpointError: naming the file and the variable (or key), when the
      source cannot be read, lacks a variable, holds a name that is neither
      mapped nor skipped by rule, or has a shape `config` disagrees with.
  """
  table = tf1_variable_table(config)
  absent = [m for m in table if source.shape(m.tf1_name) is None]
  for mapping in absent:
    if mapping.tf1_name not in source.optional:
      raise CheckpointError(
          f"{source.where}: {source.describe(mapping.tf1_name)} is missing "
          f"(needed for encoder variable {mapping.encoder_name})")
  unexpected = source.unexpected({mapping.tf1_name for mapping in table})
  if unexpected:
    raise CheckpointError(
        f"{source.where}: {unexpected[0]} is not part of a BERT encoder with "
        f"{config.num_hidden_layers} layers ({len(unexpected)} unexpected "
        f"names: {', '.join(unexpected[:4])}{', ...' * (len(unexpected) > 4)})")
  if absent:
    logging.info("%s: no %s: initialised as BERT does (truncated normal, "
                 "stddev %g; zero bias)", source.where,
                 ", ".join(m.tf1_name for m in absent),
                 config.initializer_range)
  values = []
  for mapping in table:
    if mapping in absent:
      continue
    shape = source.shape(mapping.tf1_name)
    if shape != mapping.tf1_shape:
      raise CheckpointError(
          f"{source.where}: {source.describe(mapping.tf1_name)} has shape "
          f"{list(shape)} but the BERT config gives {list(mapping.tf1_shape)}")
    value = source.read(mapping.tf1_name)
    values.append((mapping, value.astype(np.float32).reshape(
        mapping.encoder_shape)))
  return values


def load_checkpoint(encoder: tf_keras.layers.Layer, checkpoint: str,
                    config: BertConfig) -> None:
  """Assigns the variables of `encoder` from a checkpoint.

  Args:
    encoder: a layer made by `modeling.build_bert_encoder(config)`.
    checkpoint: a TF1 prefix (e.g. `DIR/bert_model.ckpt`) or a Hugging Face
      / PyTorch weight file (`open_source`).
    config: the architecture of `encoder` and of the checkpoint.

  Raises:
    CheckpointError: see `read_checkpoint`, or `encoder` lacks or has more
      variables than `config` implies; the encoder is then untouched.
  """
  values = read_checkpoint(open_source(checkpoint), config)
  variables = encoder_variables(encoder)
  expected = {(mapping.encoder_name, mapping.encoder_shape)
              for mapping in tf1_variable_table(config)}
  actual = {(name, tuple(v.shape)) for name, v in variables.items()}
  mismatched = sorted(actual ^ expected)
  if mismatched:
    raise CheckpointError(
        f"{checkpoint}: encoder {encoder.name} was not built from this "
        f"BERT config: variable {mismatched[0][0]} has no counterpart of shape "
        f"{list(mismatched[0][1])} (all differing: {mismatched})")
  for mapping, value in values:
    variables[mapping.encoder_name].assign(value)
  logging.info("Loaded %d encoder variables from %s", len(values),
               checkpoint)


def check_vocab_matches_config(vocab_size_from_vocab_file: int,
                               config: BertConfig, vocab_file: str) -> None:
  """Fails fast when vocab.txt and bert_config.json disagree on the size.

  Raises:
    ConfigError: naming `vocab_file`, when its entry count differs from
      `config.vocab_size` (ids would index the wrong embedding rows, or past
      the end of the table).
  """
  if vocab_size_from_vocab_file != config.vocab_size:
    raise ConfigError(
        f"{vocab_file}: has {vocab_size_from_vocab_file} entries but the BERT "
        f"config says vocab_size={config.vocab_size}; use the vocab.txt that "
        "came with the checkpoint")


# A vocab in which at least this share of the entries has an upper-case
# letter is cased; one in which none has is uncased ([CLS]-style entries
# aside).
CASED_VOCAB_SHARE = 0.01


def _tokenizer_lower_case(vocab_file: str) -> Optional[bool]:
  """`do_lower_case` of the tokenizer_config.json beside `vocab_file` (a
  Hugging Face folder), or None."""
  path = os.path.join(os.path.dirname(vocab_file), "tokenizer_config.json")
  if not os.path.isfile(path):
    return None
  try:
    with open(path, encoding="utf-8") as f:
      value = json.load(f).get("do_lower_case")
  except (json.JSONDecodeError, AttributeError) as e:
    raise ConfigError(f"{path}: not a JSON object ({e})") from e
  return None if value is None else bool(value)


def check_casing(vocab_file: str, do_lower_case: bool) -> None:
  """Refuses a --do_lower_case the download contradicts.

  Raises:
    ConfigError: naming the file, when tokenizer_config.json beside
      `vocab_file` says otherwise, or the vocab is uncased (no entry with an
      upper-case letter: --nodo_lower_case would make every capitalised word
      [UNK]) or cased (`CASED_VOCAB_SHARE`: lower-casing would leave those
      entries unused) against `do_lower_case`.
  """
  flag = "--do_lower_case" if do_lower_case else "--nodo_lower_case"
  wanted = _tokenizer_lower_case(vocab_file)
  if wanted is not None and wanted != do_lower_case:
    raise ConfigError(
        f"{os.path.join(os.path.dirname(vocab_file), 'tokenizer_config.json')}"
        f": do_lower_case={str(wanted).lower()}, but {flag} was given")
  vocab = load_vocab(vocab_file)
  cased = [token for token in vocab if token != token.lower() and
           not (token.startswith("[") and token.endswith("]"))]
  if do_lower_case and len(cased) >= CASED_VOCAB_SHARE * len(vocab):
    raise ConfigError(f"{vocab_file}: a cased vocab ({len(cased)} entries "
                      f"with upper case, e.g. {cased[0]!r}), but {flag} was "
                      "given; give --nodo_lower_case")
  if not do_lower_case and not cased:
    raise ConfigError(f"{vocab_file}: an uncased vocab (no entry has an "
                      f"upper-case letter), but {flag} was given; give "
                      "--do_lower_case")


def load_bert_encoder(
    files: BertFiles,
    weights_from_elsewhere: bool = False
) -> Tuple[BertConfig, tf_keras.layers.Layer]:
  """Reads bert_config.json, checks vocab.txt and builds the loaded encoder.

  Args:
    files: the download's files; `files.checkpoint` None gives random weights.
    weights_from_elsewhere: the caller restores the weights itself (from a
      run of this port): build only, whatever `files.checkpoint` says.

  Returns:
    (config, encoder) with the encoder from `modeling.build_bert_encoder`.

  Raises:
    ConfigError: bert_config.json unusable or vocab.txt of another size.
    DataError: vocab.txt unreadable (see `tokenization.load_vocab`).
    CheckpointError: see `load_checkpoint`.
  """
  config = hf_source.read_bert_config(files.config_file)
  check_vocab_matches_config(len(load_vocab(files.vocab_file)), config,
                             files.vocab_file)
  encoder = build_bert_encoder(config)
  if weights_from_elsewhere:
    return config, encoder
  if files.checkpoint:
    load_checkpoint(encoder, files.checkpoint, config)
  else:
    logging.warning("No checkpoint given: the encoder has random weights")
  return config, encoder
