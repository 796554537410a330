"""One task's data, from files to features, for every split it has.

files -> examples (the task's reader) -> pieces (NER sentences of more than
30 words split, docs/original_system.md §3.5) -> features (cached) -> `tf.data`
batches (`datasets.py`); predictions go back the same way: model outputs ->
labels of pieces -> labels of examples -> prediction files mirroring the gold
ones.
"""

import dataclasses
from importlib import metadata
import os
from typing import Dict, List, Optional, Sequence

from absl import logging
import numpy as np

from bluebert_mtl import progress
from bluebert_mtl.data import cache
from bluebert_mtl.data import features as features_lib
from bluebert_mtl.data import readers

SPLITS = ("train", "dev", "test")
# The code that turns a task's files into features, relative to the package
# (a folder: every .py file in it). The feature cache's key holds its
# fingerprint, with the TensorFlow (Text) versions whose ops tokenize, so
# that features made by other code are never read back;
# tests/test_cache.py checks that every package file that runs while a
# split is read and featurized is listed.
FEATURIZATION_SOURCES = (
    "data/readers", "data/examples.py", "data/features.py",
    "data/task_data.py", "tasks.py", "task_kinds.py", "tokenization.py")
_TOKENIZER_LIBRARIES = ("tensorflow", "tensorflow-text")
_PIECES_PER_CHUNK = 1024  # pieces featurized between progress updates


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


def featurization_fingerprint() -> bytes:
  """What the code that makes features is: a hash of
  `FEATURIZATION_SOURCES` and the tokenizer libraries' versions."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  versions = [metadata.version(name) for name in _TOKENIZER_LIBRARIES]
  return (cache.source_fingerprint(root, FEATURIZATION_SOURCES) +
          repr(versions).encode())


def _featurize(task, pieces: list, tokenizer, max_seq_length: int,
               second_text_first: bool, what: str) -> list:
  """The task kind's featurize, a chunk of pieces at a time under a
  progress bar (pieces are featurized independently)."""
  feats = []
  with progress.bar(len(pieces), what, unit="ex") as bar:
    for start in range(0, len(pieces), _PIECES_PER_CHUNK):
      chunk = pieces[start:start + _PIECES_PER_CHUNK]
      feats += task.task_kind.featurize(task, chunk, tokenizer,
                                        max_seq_length, second_text_first)
      bar.update(len(chunk))
  return feats


def load_split(task, path: str, tokenizer, max_seq_length: int,
               cache_dir: str = "", second_text_first: bool = False
               ) -> SplitData:
  """Reads, splits and featurizes one file of a task (features cached)."""
  examples = task.read(path)
  pieces = task.task_kind.pieces(task, examples)
  if len(pieces) != len(examples):
    logging.info("%s %s: sentences of more than %d words split; %d "
                 "sentences make %d pieces", task.name, path, task.max_words,
                 len(examples), len(pieces))
  with open(path, "rb") as f:
    file_bytes = f.read()
  key = [file_bytes, "\n".join(tokenizer.vocab).encode(),
         repr((task.name, task.kind, task.file_format, task.labels,
               tokenizer.do_lower_case, max_seq_length, second_text_first,
               task.max_words)).encode(), featurization_fingerprint()]
  what = f"{task.name} {os.path.basename(path)} features"
  feats = cache.cached(
      cache_dir, key,
      lambda: _featurize(task, pieces, tokenizer, max_seq_length,
                         second_text_first, what), what)
  _log_truncation(task, path, pieces, feats, max_seq_length)
  return SplitData(path, examples, pieces, feats)


def _log_truncation(task, path, pieces, feats, max_seq_length):
  """Says how much max_seq_length cut, so nothing is lost silently."""
  full = sum(len(f.input_word_ids) >= max_seq_length for f in feats)
  if full:
    logging.warning("%s %s: %d of %d inputs reach max_seq_length=%d and may "
                    "be truncated", task.name, path, full, len(feats),
                    max_seq_length)
  lost = sum(p < 0 for f in feats for p in (f.word_positions or ()))
  if lost:
    logging.warning("%s %s: %d words have no sub-token in the input "
                    "(empty or cut); they are predicted 'O'", task.name,
                    path, lost)


def data_files(data_dir: str, task_names: Sequence[str],
               splits: Sequence[str] = SPLITS) -> Dict[str, str]:
  """"task/split" -> the file of that split in data_dir/<task>/, for every
  task and split (`readers.find_split_file`; a missing one is a
  `DataError`)."""
  return {f"{name}/{split}": readers.find_split_file(
      os.path.join(data_dir, name), split)
          for name in task_names for split in splits}


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
  kind = task.task_kind
  by_piece = {
      piece.guid: kind.decode(task, out, feat.word_positions)
      for piece, feat, out in zip(split.pieces, split.features, outputs)
  }
  return kind.join_pieces(split.examples, split.pieces, by_piece)


def gold_labels(task, split: SplitData) -> Optional[list]:
  """The split's gold (guid, label) rows in file order (a guid repeats where a
  relation pair has several labels), or None for an unlabelled file."""
  rows = task.gold_rows(split.examples)
  if any(label is None for _, label in rows):
    return None
  return rows
