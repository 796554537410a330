"""BERT features of raw text, as the original extract_features.py.

  python -m bluebert_mtl.commands.extract_features --bert_dir=DIR \
      --do_lower_case=true --max_seq_length=128 [--layers=-1,-2,-3,-4] \
      --input_file=IN.txt --output_file=OUT.jsonl

(or `--bert_config_file`, `--init_checkpoint`, `--vocab_file` in place of or
beside `--bert_dir`). DIR is a BERT download, or a training run folder of
this port, whose encoder (the multi-task encoder of a run_mtl.py run) is
read from its latest checkpoint. IN has one text a line, or a pair as
`text_a ||| text_b`. OUT has one JSON object a line, in input order:

  {"tokens": ["[CLS]", "the", "cat", "[SEP]"],
   "sequence_output": [[...H floats...], ...one row per token...],
   "pooled_output": [...H floats...],
   "layers": [{"index": -1, "values": [[...H floats...], ...per token...]},
              {"index": -2, ...}]}

"layers" only with --layers: the outputs of those transformer blocks, -1
the last (so its values are sequence_output), as the original's --layers
names them. Floats are the float32 outputs rounded to 6 decimals, as the
original writes.
"""

import re
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from bluebert_mtl import progress
from bluebert_mtl.model.checkpoints import load_bert_encoder
from bluebert_mtl.model.multitask_model import restore_encoder_layer
from bluebert_mtl.config import BertConfig, BertFiles
from bluebert_mtl.errors import DataError, FlagError
from bluebert_mtl.data.features import pack_pair
from bluebert_mtl.model.modeling import ENCODER_INPUT_NAMES
from bluebert_mtl.serve.output_file import json_lines
from bluebert_mtl.tokenization import FullTokenizer

# The original splits a line at its last " ||| " (greedy first group).
_PAIR_LINE = re.compile(r"^(.*) \|\|\| (.*)$")

Text = Tuple[str, Optional[str]]  # (text_a, text_b or None)


def read_texts(input_file: str) -> List[Text]:
  """One (text_a, text_b) per line; text_b None unless the line has ` ||| `.

  Lines are stripped of surrounding whitespace; a blank line is an empty text,
  so output line i always belongs to input line i.

  Raises:
    DataError: naming the file (and line): a file that cannot be read, a
      line that is not UTF-8.
  """
  try:
    with open(input_file, "rb") as f:
      raw_lines = f.readlines()
  except OSError as e:
    raise DataError(input_file, None, f"cannot read it: {e.strerror}") from e
  texts = []
  for line_number, raw in enumerate(raw_lines, start=1):
    try:
      line = raw.decode("utf-8").strip()
    except UnicodeDecodeError as e:
      raise DataError(input_file, line_number,
                      f"not UTF-8 text (byte {e.start} of the line)") from e
    pair = _PAIR_LINE.match(line)
    texts.append((pair.group(1), pair.group(2)) if pair else (line, None))
  return texts


def pack_texts(tokenizer: FullTokenizer, texts: Sequence[Text],
               max_seq_length: int) -> List[Tuple[List[int], List[int]]]:
  """(input_word_ids, input_type_ids) of each text, unpadded."""
  ids_a = tokenizer.tokenize(tf.constant([a for a, _ in texts],
                                         tf.string)).to_list()
  pairs = [b for _, b in texts if b is not None]
  ids_b = iter(tokenizer.tokenize(tf.constant(pairs, tf.string)).to_list())
  return [pack_pair(a, None if b is None else next(ids_b), max_seq_length,
                    tokenizer.cls_id, tokenizer.sep_id)
          for a, (_, b) in zip(ids_a, texts)]


def pad_batch(packed: Sequence[Tuple[List[int], List[int]]]
             ) -> Dict[str, np.ndarray]:
  """Encoder inputs, each int32 [B, T] with T the longest row, 0-padded."""
  length = max(len(word_ids) for word_ids, _ in packed)
  batch = {name: np.zeros([len(packed), length], np.int32)
           for name in ENCODER_INPUT_NAMES}
  for row, (word_ids, type_ids) in enumerate(packed):
    batch["input_word_ids"][row, :len(word_ids)] = word_ids
    batch["input_mask"][row, :len(word_ids)] = 1
    batch["input_type_ids"][row, :len(type_ids)] = type_ids
  return batch


def _rounded(values: np.ndarray) -> list:
  return np.round(values.astype(np.float64), 6).tolist()


def _check_settings(files: BertFiles, max_seq_length: int,
                    layers: Sequence[int]):
  """Refuses, before any work, a length or a layer index the encoder of
  `files.config_file` cannot take."""
  config = BertConfig.from_json_file(files.config_file)
  config.check_sequence_length(max_seq_length, files.config_file)
  count = config.num_hidden_layers
  bad = [index for index in layers if not -count <= index < count]
  if bad:
    raise FlagError(f"--layers {bad[0]}: the encoder has {count} layers, "
                    f"indices {-count}..{count - 1} (-1: the last)")


def _encoder(files: BertFiles, encoder_checkpoint: Optional[str]):
  """The encoder with the download's or the run's weights."""
  _, encoder = load_bert_encoder(
      files, weights_from_elsewhere=bool(encoder_checkpoint))
  if encoder_checkpoint:
    restore_encoder_layer(encoder, encoder_checkpoint)
  return encoder


def _record(tokens: List[str], outputs: Dict[str, object], row: int,
            layers: Sequence[int]) -> dict:
  """The JSON line of one text (module docstring)."""
  n = len(tokens)
  record = {"tokens": tokens,
            "sequence_output": _rounded(outputs["sequence_output"][row, :n]),
            "pooled_output": _rounded(outputs["pooled_output"][row])}
  if layers:
    record["layers"] = [
        {"index": index,
         "values": _rounded(outputs["encoder_outputs"][index][row, :n])}
        for index in layers]
  return record


def extract_features(files: BertFiles, input_file: str, output_file: str,
                     do_lower_case: bool = True, max_seq_length: int = 128,
                     batch_size: int = 8,
                     encoder_checkpoint: Optional[str] = None,
                     layers: Sequence[int] = ()) -> int:
  """Writes the features of every line of `input_file`.

  Args:
    files: the BERT download (config, checkpoint, vocab), or a run's config
      and vocab with `encoder_checkpoint`.
    input_file: UTF-8 text, one text or `a ||| b` pair a line.
    output_file: JSON lines to write (module docstring), whole or not at
      all; "-" for standard output.
    do_lower_case: True for uncased models (every BlueBERT).
    max_seq_length: longest packed input, [CLS] and [SEP]s included; longer
      texts are cut (pairs longest-first).
    batch_size: lines run through the encoder at once.
    encoder_checkpoint: a run's TF2 checkpoint prefix (or run folder) whose
      encoder weights replace `files.checkpoint`'s.
    layers: block outputs to write as well, -1 the last (the original
      script's --layers); () writes none.

  Returns:
    the number of lines written.

  Raises:
    FlagError: `max_seq_length` outside [3, max_position_embeddings], a
      layer the encoder has not.
    ConfigError: unusable BERT files.
    CheckpointError: the checkpoint does not fit the config.
    DataError: a line of `input_file` that is not UTF-8.
  """
  _check_settings(files, max_seq_length, layers)
  texts = read_texts(input_file)
  encoder = _encoder(files, encoder_checkpoint)
  tokenizer = FullTokenizer(files.vocab_file, do_lower_case)
  spec = {name: tf.TensorSpec([None, None], tf.int32)
          for name in ENCODER_INPUT_NAMES}  # each [B, T]
  run_encoder = tf.function(lambda inputs: encoder(inputs, training=False),
                            input_signature=[spec])
  with json_lines(output_file) as write, progress.bar(
      len(texts), "features", unit="line") as bar:
    for start in range(0, len(texts), batch_size):
      packed = pack_texts(tokenizer, texts[start:start + batch_size],
                          max_seq_length)
      outputs = tf.nest.map_structure(lambda t: t.numpy(),
                                      run_encoder(pad_batch(packed)))
      for row, (word_ids, _) in enumerate(packed):
        write(_record(tokenizer.convert_ids_to_tokens(word_ids), outputs, row,
                      layers))
      bar.update(len(packed))
  logging.info("Wrote features of %d lines to %s", len(texts), output_file)
  return len(texts)
