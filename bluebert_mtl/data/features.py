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

  As BERT and MT-BlueBERT do (docs/original_system.md §3.1): while the pair is
  too long, pop the last token of the longer sequence (b when they are equal).
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


def split_long_sentence(example, max_words: int = 30) -> list:
  """Splits a tagged sentence of more than `max_words` words as the original.

  MT-BlueBERT (`blue_prepro_std.py`) and TF1 BlueBERT (BC5CDR) cut long NER
  sentences (docs/original_system.md §3.5): take the tags of the first
  `max_words` words, drop tags from the end up to and including the last `O`,
  and cut just after that `O` (after 1 word where there is none). Repeat on the
  rest. Unlabelled sentences are cut every `max_words` words.

  Args:
    example: a `TaggedExample`.
    max_words: longest piece, in words.

  Returns:
    list of `TaggedExample` pieces covering the sentence in order; a sentence
    that fits is returned alone and unchanged.
  """
  pieces = []
  start = 0
  n = len(example.words)
  while n - start > max_words:
    if example.tags is None:
      cut = max_words
    else:
      head = list(example.tags[start:start + max_words])
      while head and head.pop() != "O":
        pass
      cut = len(head) + 1
    pieces.append(_piece(example, start, start + cut))
    start += cut
  if start == 0:
    return [example]
  pieces.append(_piece(example, start, n))
  return pieces


def _piece(example, start: int, end: int):
  """The words [start, end) of a tagged example as a new example."""
  return dataclasses.replace(
      example,
      guid=f"{example.guid}.{start}",
      words=example.words[start:end],
      tags=None if example.tags is None else example.tags[start:end],
      word_start=example.word_start + start)


def merge_piece_predictions(examples, pieces, piece_tags) -> dict:
  """Re-joins per-piece word tags into whole-sentence tags.

  Args:
    examples: the unsplit `TaggedExample`s of a file.
    pieces: the `TaggedExample` pieces `split_long_sentence` made of them.
    piece_tags: dict piece guid -> tuple of predicted tags, one per word.

  Returns:
    dict sentence guid -> tuple of tags, one per word of the whole sentence.
  """
  sentence_tags = {ex.sentence_index: [None] * len(ex.words) for ex in examples}
  for piece in pieces:
    tags = piece_tags[piece.guid]
    if len(tags) != len(piece.words):
      raise ValueError(f"piece {piece.guid}: {len(tags)} tags for "
                       f"{len(piece.words)} words")
    start = piece.word_start
    sentence_tags[piece.sentence_index][start:start + len(tags)] = tags
  merged = {}
  for ex in examples:
    tags = sentence_tags[ex.sentence_index]
    if None in tags:
      raise ValueError(f"sentence {ex.guid}: some words have no prediction")
    merged[ex.guid] = tuple(tags)
  return merged


def tokenize_texts(tokenizer, texts: Sequence[str],
                   chunk_size: int = 4096) -> List[List[int]]:
  """WordPiece ids of each text, through the in-graph tokenizer in chunks.

  Args:
    tokenizer: a `tokenization.FullTokenizer`.
    texts: the strings.
    chunk_size: texts per tokenizer call.

  Returns:
    one list of int ids per text.
  """
  ids = []
  for start in range(0, len(texts), chunk_size):
    chunk = list(texts[start:start + chunk_size])
    ids.extend(tokenizer.tokenize(chunk).to_list())
  return ids


def featurize_sentences(examples, tokenizer, max_seq_length: int,
                        encode_label, second_text_first: bool = False):
  """Sentence and sentence-pair examples -> `Features`.

  Args:
    examples: `Example`s of one task.
    tokenizer: a `tokenization.FullTokenizer`.
    max_seq_length: longest packed length.
    encode_label: function label -> encoded label (module docstring); called
      only on labelled examples.
    second_text_first: pack `[CLS] b [SEP] a [SEP]`, as MT-BlueBERT's code
      does for pairs (hypothesis first, docs/original_system.md §3.1).

  Returns:
    list of `Features`, in the order of `examples`.
  """
  ids_a = tokenize_texts(tokenizer, [ex.text_a for ex in examples])
  pairs = [ex for ex in examples if ex.text_b is not None]
  ids_b = iter(tokenize_texts(tokenizer, [ex.text_b for ex in pairs]))
  features = []
  for ex, a in zip(examples, ids_a):
    b = next(ids_b) if ex.text_b is not None else None
    if b is not None and second_text_first:
      a, b = b, a
    word_ids, type_ids = pack_pair(a, b, max_seq_length, tokenizer.cls_id,
                                   tokenizer.sep_id)
    label = None if ex.label is None else encode_label(ex.label)
    features.append(Features(ex.guid, tuple(word_ids), tuple(type_ids), label))
  return features


def featurize_tagged(examples, tokenizer, max_seq_length: int,
                     tag_ids: dict):
  """Tagged (NER) examples -> `Features` with one label per WordPiece.

  Each word is tokenized on its own; its first sub-token carries the word's
  tag id, later sub-tokens and [CLS]/[SEP] carry IGNORE_ID. Sub-tokens past
  `max_seq_length - 2` are cut; a word whose first sub-token is cut, or that
  has no sub-token at all, gets word position -1 (callers predict "O" for it
  and count it).

  Args:
    examples: `TaggedExample`s (already split to short pieces).
    tokenizer: a `tokenization.FullTokenizer`.
    max_seq_length: longest packed length.
    tag_ids: dict tag string -> id.

  Returns:
    list of `Features`, in the order of `examples`.
  """
  words = [w for ex in examples for w in ex.words]
  word_pieces = iter(tokenize_texts(tokenizer, words))
  end = max_seq_length - 1  # position of the final [SEP] at the longest
  features = []
  for ex in examples:
    word_ids, label_ids, positions = [tokenizer.cls_id], [IGNORE_ID], []
    for i in range(len(ex.words)):
      pieces = next(word_pieces)[:end - len(word_ids)]
      if not pieces:
        positions.append(-1)
        continue
      positions.append(len(word_ids))
      word_ids.extend(pieces)
      tag = IGNORE_ID if ex.tags is None else tag_ids[ex.tags[i]]
      label_ids.extend([tag] + [IGNORE_ID] * (len(pieces) - 1))
    word_ids.append(tokenizer.sep_id)
    label_ids.append(IGNORE_ID)
    label = None if ex.tags is None else tuple(label_ids)
    features.append(Features(ex.guid, tuple(word_ids), (0,) * len(word_ids),
                             label, tuple(positions)))
  return features
