"""Examples -> features: WordPiece ids packed as BERT inputs, with labels.

The layout follows google-research/bert `run_classifier.py`:

  pair:    [CLS] a1 a2 a3 [SEP] b1 b2 [SEP]
  type:      0   0  0  0    0   1  1    1

  single:  [CLS] a1 a2 a3 [SEP]
  type:      0   0  0  0    0

Features are unpadded here; `datasets.py` pads each batch to its longest row.
Label encodings by task kind (see `tasks.py`):
  classification  int id into the task's label list
  regression      float score
  multilabel      float multi-hot over the label list
  tagging         int id per WordPiece position: the word's tag on its first
                  sub-token, IGNORE_ID on [CLS], [SEP] and later sub-tokens
"""

import dataclasses
from typing import List, Optional, Sequence, Tuple, Union

IGNORE_ID = -1  # label id of positions left out of the loss and the metric.

FeatureLabel = Union[int, float, Tuple[float, ...], Tuple[int, ...], None]


@dataclasses.dataclass(frozen=True)
class Features:
  """One packed model input.

  Attributes:
    guid: the guid of the example it came from.
    input_word_ids: WordPiece ids, [CLS] ... [SEP], length T <= max_seq_length.
    input_type_ids: segment ids, same length.
    label: the encoded label (module docstring), None for unlabelled rows.
    word_positions: tagging only: for each word of the example, the position
      of its first sub-token, or -1 where the word has no sub-token (empty
      after tokenization) or was cut by max_seq_length.
  """
  guid: str
  input_word_ids: Tuple[int, ...]
  input_type_ids: Tuple[int, ...]
  label: FeatureLabel = None
  word_positions: Optional[Tuple[int, ...]] = None


def truncate_pair(ids_a: List[int], ids_b: List[int], max_tokens: int):
  """Truncates a pair longest-first in place until it fits `max_tokens`.

  As BERT and MT-BlueBERT do (reference.md 3.3): while the pair is too long,
  pop the last token of the longer sequence (b when they are equal).
  """
  while len(ids_a) + len(ids_b) > max_tokens:
    if len(ids_a) > len(ids_b):
      ids_a.pop()
    else:
      ids_b.pop()


def pack_pair(ids_a: Sequence[int], ids_b: Optional[Sequence[int]],
              max_seq_length: int, cls_id: int,
              sep_id: int) -> Tuple[List[int], List[int]]:
  """Packs one or two id sequences as `[CLS] a [SEP] (b [SEP])`.

  Args:
    ids_a: WordPiece ids of the first text.
    ids_b: WordPiece ids of the second text, or None for a single text.
    max_seq_length: the longest packed length allowed (>= 3 for pairs).
    cls_id: id of [CLS].
    sep_id: id of [SEP].

  Returns:
    (input_word_ids, input_type_ids), two int lists of equal length
    <= max_seq_length.
  """
  ids_a = list(ids_a)
  if ids_b is None:
    del ids_a[max_seq_length - 2:]
    word_ids = [cls_id] + ids_a + [sep_id]
    return word_ids, [0] * len(word_ids)
  ids_b = list(ids_b)
  truncate_pair(ids_a, ids_b, max_seq_length - 3)
  word_ids = [cls_id] + ids_a + [sep_id] + ids_b + [sep_id]
  type_ids = [0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1)
  return word_ids, type_ids
