"""One task's data, from files to features, for every split it has.

files -> examples (the task's reader) -> pieces (NER sentences of more than
30 words split, reference.md 3.7) -> features (cached) -> `tf.data` batches
(`datasets.py`); predictions go back the same way: model outputs -> labels
of pieces -> labels of examples -> prediction files mirroring the gold ones.
"""

import dataclasses
import os
from typing import Dict, List, Optional, Sequence

from absl import logging
import numpy as np

import bluebert_mtl
from bluebert_mtl.data import datasets
from bluebert_mtl.data import features as features_lib
from bluebert_mtl.data import readers
from bluebert_mtl import task_kinds

SPLITS = ("train", "dev", "test")


@dataclasses.dataclass
class SplitData:
  """One split of one task.

  Attributes:
    path: the gold file.
    examples: what the reader gave, in file order.
    pieces: the examples as fed to the model (NER: long sentences split).
    features: one `Features` per piece.
  """
  path: str
  examples: list
  pieces: list
  features: List[features_lib.Features]

  @property
  def labelled(self) -> bool:
    return all(f.label is not None for f in self.features)

  @property
  def lengths(self) -> np.ndarray:
    return np.array([len(f.input_word_ids) for f in self.features])


def split_pieces(task, examples) -> list:
  """The examples as fed to the model: NER sentences of more than
  `task.max_words` words split (`features.split_long_sentence`)."""
  if task.kind != "tagging":
    return list(examples)
  pieces = []
  for ex in examples:
    pieces.extend(features_lib.split_long_sentence(ex, task.max_words))
  return pieces


def featurize_pieces(task, pieces, tokenizer, max_seq_length: int,
                     second_text_first: bool):
  """`Features` of the pieces, one each, as training makes them."""
  if task.kind == "tagging":
    tag_ids = {tag: i for i, tag in enumerate(task.labels)}
    return features_lib.featurize_tagged(pieces, tokenizer, max_seq_length,
                                         tag_ids)
  kind = task_kinds.KINDS[task.kind]
  return features_lib.featurize_sentences(
      pieces, tokenizer, max_seq_length,
      lambda label: kind.encode_label(task, label), second_text_first)


def load_split(task, path: str, tokenizer, max_seq_length: int,
               cache_dir: str = "", second_text_first: bool = False
               ) -> SplitData:
  """Reads, splits and featurizes one file of a task (features cached)."""
  examples = task.read(path)
  pieces = split_pieces(task, examples)
  if len(pieces) != len(examples):
    long = sum(len(ex.words) > task.max_words for ex in examples)
    logging.info("%s %s: %d sentences of more than %d words split; %d "
                 "sentences make %d pieces", task.name, path, long,
                 task.max_words, len(examples), len(pieces))
  with open(path, "rb") as f:
    file_bytes = f.read()
  key = [file_bytes, "\n".join(tokenizer.vocab).encode(),
         repr((task.name, task.kind, task.labels, tokenizer.do_lower_case,
               max_seq_length, second_text_first, task.max_words,
               bluebert_mtl.__version__)).encode()]
  feats = datasets.cached(
      cache_dir, key,
      lambda: featurize_pieces(task, pieces, tokenizer, max_seq_length,
                               second_text_first),
      f"{task.name} {os.path.basename(path)} features")
  _log_truncation(task, path, pieces, feats, max_seq_length)
  return SplitData(path, examples, pieces, feats)


def _log_truncation(task, path, pieces, feats, max_seq_length):
  """Says how much max_seq_length cut, so nothing is lost silently."""
  full = sum(len(f.input_word_ids) >= max_seq_length for f in feats)
  if full:
    logging.warning("%s %s: %d of %d inputs reach max_seq_length=%d and may "
                    "be truncated", task.name, path, full, len(feats),
                    max_seq_length)
  if task.kind == "tagging":
    lost = sum(p < 0 for f in feats for p in f.word_positions)
    if lost:
      logging.warning("%s %s: %d words have no sub-token in the input "
                      "(empty or cut); they are predicted 'O'", task.name,
                      path, lost)


def load_task(task, data_dir: str, tokenizer, max_seq_length: int,
              splits: Sequence[str] = SPLITS, cache_dir: str = "",
              second_text_first: bool = False) -> Dict[str, SplitData]:
  """Every requested split of `task` under `data_dir/<task key>/`."""
  task_dir = os.path.join(data_dir, task.name)
  return {
      split: load_split(task, readers.find_split_file(task_dir, split),
                        tokenizer, max_seq_length, cache_dir,
                        second_text_first)
      for split in splits
  }


def decode_predictions(task, split: SplitData,
                       outputs: Sequence[np.ndarray]) -> dict:
  """Model outputs (one per feature) -> dict example guid -> predicted label."""
  kind = task_kinds.KINDS[task.kind]
  by_piece = {
      piece.guid: kind.decode(task, out, feat.word_positions)
      for piece, feat, out in zip(split.pieces, split.features, outputs)
  }
  if task.kind == "tagging":
    return features_lib.merge_piece_predictions(split.examples, split.pieces,
                                                by_piece)
  return by_piece


def gold_labels(task, split: SplitData) -> Optional[list]:
  """The split's gold (guid, label) rows in file order (a guid repeats where a
  relation pair has several labels), or None for an unlabelled file."""
  if task.kind == "tagging":
    rows = [(ex.guid, ex.tags) for ex in split.examples]
  else:
    rows = [(ex.guid, ex.label) for ex in split.examples]
  if any(label is None for _, label in rows):
    return None
  return rows
