"""Raw text -> encoder inputs inside a TensorFlow graph, as training featurizes.

The exported raw-text models and the preprocess model run this, so a served
text becomes exactly the rows that training would make of it
(`data/features.py`): the run's tokenizer (vocab, do_lower_case),
`[CLS] a [SEP] (b [SEP])` packing, truncation to the run's max_seq_length
(pairs longest-first, in the run's second_text_first order); tagging texts
are split into words as Python's `str.split()` splits them, each word
tokenized on its own, and the words cut into pieces of at most max_words
words (the rule for untagged sentences). Packing and truncation use core TF
ops; the TF Text ops are the long-shipped ones of the tokenizer
(`tokenization.py`).

Dims: B texts, T WordPieces (longest packed row), W words (longest text),
R rows fed to the encoder, N words in all, M the task's max_words.
"""

import dataclasses
import functools
import sys
from typing import Dict, Optional

import tensorflow as tf

from bluebert_mtl import tokenization

NO_WORD = -1  # word position of a word without a sub-token



@functools.lru_cache(maxsize=None)
def _whitespace_class() -> str:
  """Python's `str.split()` separators, as an RE2 class."""
  return "[" + "".join(f"\\x{{{cp:X}}}" for cp in range(sys.maxunicode + 1)
                       if chr(cp).isspace()) + "]"



@dataclasses.dataclass
class WordPieces:
  """Tagging texts as encoder rows of at most max_words words each.

  Attributes:
    inputs: encoder inputs, int32 [R, T] each.
    text_index: int32 [R], the text of each row.
    words: string RaggedTensor [B, (W)], the words of each text.
    word_row: int32 [N], the row of each word (N words in all, text order).
    word_positions: int32 [N], the position of each word's first sub-token
      in its row, -1 where it has none.
  """
  inputs: Dict[str, tf.Tensor]
  text_index: tf.Tensor
  words: tf.RaggedTensor
  word_row: tf.Tensor
  word_positions: tf.Tensor

  def row_outputs(self, max_words: int) -> Dict[str, tf.Tensor]:
    """The preprocess signature's outputs of a tagging task (docstring)."""
    positions = tf.RaggedTensor.from_value_rowids(
        self.word_positions, self.word_row,
        nrows=tf.size(self.text_index))
    return dict(self.inputs, text_index=self.text_index,
                num_words=tf.cast(positions.row_lengths(), tf.int32),
                word_positions=positions.to_tensor(NO_WORD,
                                                   shape=[None, max_words]))


def _keep_first(ids: tf.RaggedTensor, lengths: tf.Tensor) -> tf.RaggedTensor:
  """The first lengths[i] ids of each row i of an int RaggedTensor [B, (T)]."""
  positions = tf.ragged.range(ids.row_lengths())
  return tf.ragged.boolean_mask(ids, positions < lengths[:, None])


def _column(value: int, rows: tf.Tensor) -> tf.RaggedTensor:
  """An int32 RaggedTensor [rows, (1)] holding `value`."""
  return tf.RaggedTensor.from_tensor(tf.fill([rows, 1], value))


def _dense_inputs(word_ids: tf.RaggedTensor,
                  type_ids: tf.RaggedTensor) -> Dict[str, tf.Tensor]:
  """Ragged packed rows -> encoder inputs int32 [B, T], 0-padded."""
  return {"input_word_ids": word_ids.to_tensor(0),
          "input_mask": tf.ones_like(word_ids).to_tensor(0),
          "input_type_ids": type_ids.to_tensor(0)}


class Preprocessor(tf.Module):
  """Raw text -> encoder inputs, as training featurizes (`features.py`)."""

  def __init__(self, tokenizer: tokenization.FullTokenizer,
               max_seq_length: int, second_text_first: bool):
    """Keeps the run's preprocessing settings.

    Args:
      tokenizer: the run's tokenizer.
      max_seq_length: the run's longest packed row.
      second_text_first: pack pairs as [CLS] b [SEP] a [SEP].
    """
    super().__init__(name="preprocessor")
    self.tokenizer = tokenizer
    self.max_seq_length = max_seq_length
    self.second_text_first = second_text_first

  def _pack(self, ids_a: tf.RaggedTensor,
            ids_b: Optional[tf.RaggedTensor]) -> Dict[str, tf.Tensor]:
    """`features.pack_pair` on int32 RaggedTensors [B, (T)]."""
    rows = ids_a.nrows(out_type=tf.int32)
    cls = _column(self.tokenizer.cls_id, rows)
    sep = _column(self.tokenizer.sep_id, rows)
    if ids_b is None:
      word_ids = tf.concat([cls, ids_a[:, :self.max_seq_length - 2], sep], 1)
      return _dense_inputs(word_ids, tf.zeros_like(word_ids))
    # Longest-first: pop from the longer (b on ties) until the pair fits; the
    # result is a = min(len a, max(room - len b, ceil(room / 2))).
    room = self.max_seq_length - 3
    length_a, length_b = ids_a.row_lengths(), ids_b.row_lengths()
    keep_a = tf.minimum(length_a,
                        tf.maximum(room - length_b, (room + 1) // 2))
    ids_a = _keep_first(ids_a, keep_a)
    ids_b = _keep_first(ids_b, tf.minimum(length_b, room - keep_a))
    first = tf.concat([cls, ids_a, sep], 1)
    second = tf.concat([ids_b, sep], 1)
    return _dense_inputs(tf.concat([first, second], 1),
                         tf.concat([tf.zeros_like(first),
                                    tf.ones_like(second)], 1))

  def texts(self, *texts: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Encoder inputs of one text or a pair of texts, string [B] each."""
    ids = [self.tokenizer.tokenize(t) for t in texts]
    if len(ids) == 1:
      return self._pack(ids[0], None)
    first, second = ids
    if self.second_text_first:
      first, second = second, first
    return self._pack(first, second)

  def words(self, texts: tf.Tensor, max_words: int) -> WordPieces:
    """Tagging texts as `features.featurize_tagged` rows of <= max_words words.

    Args:
      texts: string [B], one sentence each.
      max_words: the task's longest piece, in words.

    Returns:
      the rows and where each word's first sub-token is in them.
    """
    words = tf.strings.split(
        tf.strings.regex_replace(texts, _whitespace_class(), " "))
    words_per_text = words.row_lengths()  # int64 [B]
    rows_per_text = tf.maximum(
        tf.constant(1, tf.int64), -(-words_per_text // max_words))
    first_row = tf.cumsum(rows_per_text, exclusive=True)
    word_text = words.value_rowids()  # [N]
    word_in_text = (tf.range(tf.size(word_text, out_type=tf.int64)) -
                    tf.gather(words.row_starts(), word_text))
    word_row = tf.gather(first_row, word_text) + word_in_text // max_words
    subtokens = self.tokenizer.tokenize(words.flat_values)  # [N, (S)]
    rows = tf.RaggedTensor.from_value_rowids(
        subtokens, word_row, nrows=tf.reduce_sum(rows_per_text))
    inputs = self._pack(rows.merge_dims(1, 2), None)
    counts = subtokens.row_lengths()
    offsets = tf.cumsum(counts, exclusive=True)  # of the word in all words
    offsets -= tf.gather(offsets, tf.gather(rows.row_starts(), word_row))
    has_position = (counts > 0) & (offsets < self.max_seq_length - 2)
    positions = tf.where(has_position, offsets + 1, NO_WORD)
    text_index = tf.repeat(tf.range(tf.size(rows_per_text)), rows_per_text)
    return WordPieces(inputs, text_index, words, tf.cast(word_row, tf.int32),
                      tf.cast(positions, tf.int32))
