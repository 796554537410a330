"""In-graph BERT tokenizer equal to google-research/bert's `FullTokenizer`.

BlueBERT was pre-trained and fine-tuned on the output of the original
`FullTokenizer` (a `BasicTokenizer` followed by a `WordpieceTokenizer`), so the
ids fed to the port must be the same ids, for raw text arriving at a SavedModel
as well as for the training data. This module rebuilds that tokenizer from
TensorFlow and TF Text ops, so that it runs inside `tf.function` and exports.

Why not `tensorflow_text.BertTokenizer`: with `lower_case=True` it applies ICU
NFKC case folding, which the original never does. Folding rewrites characters
that are common in biomedical text, e.g. `µ` -> `μ`, `²` -> `2`, `½` -> `1⁄2`,
`…` -> `...`, `⁻` -> `−`, `ß` -> `ss`, `ﬁ` -> `fi`, and so changes the ids.
Its word limit is bytes (`max_bytes_per_word`, default 100), while the
original limit is 200 characters. And RE2's own classes do not fit: `\\s` is
ASCII only (no NBSP or other `Zs` space), and `\\p{C}` leaves out unassigned
code points, which the original drops.

What the original does to one text, and the op that does it here:

1. Decode UTF-8 dropping invalid bytes (`errors="ignore"`):
   `tf.strings.unicode_transcode(errors="ignore")`.
2. `_clean_text`: drop U+0000, U+FFFD and every character whose category is
   `C*` (Cc, Cf, Cs, Co, Cn) except tab, LF and CR; map tab, LF, CR and every
   `Zs` character to a space: two `tf.strings.regex_replace`. U+2028 and
   U+2029 (categories Zl and Zp) survive cleaning in the original but
   `str.split()` splits on them, so they are mapped to a space as well.
3. `_tokenize_chinese_chars`: a space each side of every CJK ideograph
   (BERT's eight code point blocks): `tf.strings.regex_replace`.
4. Uncased only (`do_lower_case=True`): `str.lower()`, Unicode NFD, drop
   category `Mn`: `tf.strings.lower(encoding="utf-8")` (ICU full lower-case
   mapping, including the context-dependent Greek final sigma and
   U+0130 -> "i" + U+0307, as Python), `tensorflow_text.normalize_utf8(NFD)`,
   `tf.strings.regex_replace`. Nothing else: no NFKC, no case folding.
5. Split on spaces, and around every punctuation character (ASCII 33-47,
   58-64, 91-96, 123-126 or category `P*`), each punctuation character a word
   of its own: `tensorflow_text.regex_split`.
6. WordPiece, greedy longest-match-first with `##` continuations; a word with
   any piece outside the vocab becomes one `[UNK]`, and a word of more than
   200 characters becomes `[UNK]`: the 200-character rule is applied first
   (`tf.strings.length(unit="UTF8_CHAR")`, the word replaced by the text
   `[UNK]`), then `tensorflow_text.WordpieceTokenizer` with a byte limit no
   200-character word reaches.

Every character class (`C*`, `Zs`, `Mn`, `P*`) is written out as explicit code
point ranges built from this Python's `unicodedata`, the tables the original
algorithm reads, and stored as a constant in the graph; none relies on RE2's
own Unicode tables. The ops used (StaticRegexReplace, UnicodeTranscode,
StringLower, NormalizeUTF8, RegexSplitWithOffsets,
WordpieceTokenizeWithOffsets, hash table lookups) are all long-standing ones.

Known differences, all from the Unicode version of the ICU that TensorFlow's
`tf.strings.lower` links (Unicode 13), older than Python 3.11's `unicodedata`
(Unicode 14):

* 40 capital letters first encoded in Unicode 14 are not lower-cased:
  U+2C2F (Glagolitic), U+A7C0, U+A7D0, U+A7D6, U+A7D8 (Latin) and the 35
  Vithkuqi capitals U+10570-U+10595 (except the unassigned U+1057B, U+1058B,
  U+10593). A word holding one then gets other WordPiece ids (in practice
  `[UNK]` either way with the BERT vocab).
* The final-sigma rule reads the cased / case-ignorable properties of the
  characters around a capital sigma, so a sigma next to a character first
  encoded in Unicode 14 may lower-case differently.

NFD (TF Text's newer ICU) and every other step match Python exactly on every
code point Python knows; NFD differs only on characters Python calls
unassigned, which step 2 has already dropped. tests/test_tokenization.py
checks every code point against a pure-Python reference and pins this list.
"""

import functools
import itertools
import unicodedata
from typing import List, NamedTuple, Sequence, Tuple

import tensorflow as tf
import tensorflow_text as tf_text

from bluebert_mtl.errors import DataError

UNK_TOKEN = "[UNK]"
SPECIAL_TOKENS = ("[PAD]", UNK_TOKEN, "[CLS]", "[SEP]")
# The original WordpieceTokenizer's max_input_chars_per_word.
MAX_CHARS_PER_WORD = 200
# BERT's CJK ideograph blocks (`_is_chinese_char`), inclusive.
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
              (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
              (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_ASCII_PUNCTUATION_RANGES = ((33, 47), (58, 64), (91, 96), (123, 126))
_SURROGATES = range(0xD800, 0xE000)


def load_vocab(vocab_file: str) -> List[str]:
  """Reads a WordPiece vocab: one token a line, the line order giving the ids.

  Each line is stripped of surrounding whitespace, as the original does.

  Args:
    vocab_file: path of a UTF-8 `vocab.txt`.

  Returns:
    the tokens; token i has id i.

  Raises:
    DataError: the file is missing, not UTF-8, empty, has a blank line or a
      duplicate token, or lacks one of [PAD] [UNK] [CLS] [SEP].
  """
  try:
    with open(vocab_file, encoding="utf-8") as f:
      lines = f.read().split("\n")
  except OSError as e:
    raise DataError(vocab_file, None,
                    f"cannot read the vocab file: {e.strerror}") from e
  except UnicodeDecodeError as e:
    line = _line_of_byte(vocab_file, e.start)
    raise DataError(vocab_file, line, "the vocab file is not UTF-8") from e
  if lines and not lines[-1]:
    lines.pop()  # the newline that ends the last line
  if not lines:
    raise DataError(vocab_file, None, "the vocab file is empty")
  vocab, first_line = [], {}
  for line_number, line in enumerate(lines, start=1):
    token = line.strip()
    if not token:
      raise DataError(vocab_file, line_number, "blank line in the vocab")
    if token in first_line:
      raise DataError(vocab_file, line_number,
                      f"duplicate token {token!r}, first on line "
                      f"{first_line[token]}")
    first_line[token] = line_number
    vocab.append(token)
  missing = [t for t in SPECIAL_TOKENS if t not in first_line]
  if missing:
    raise DataError(vocab_file, None,
                    f"the vocab lacks the special tokens {' '.join(missing)}")
  return vocab


def _line_of_byte(path: str, offset: int) -> int:
  """1-based number of the line of `path` that holds byte `offset`."""
  with open(path, "rb") as f:
    return f.read(offset).count(b"\n") + 1


class _CharacterClasses(NamedTuple):
  """RE2 character classes (bracketed) of the steps of the algorithm."""
  dropped: str      # cleaning removes these
  space: str        # cleaning maps these to a space (plus U+2028, U+2029)
  cjk: str          # get a space on each side
  nonspacing: str   # category Mn: removed after NFD when lower-casing
  punctuation: str  # split off as words of their own


def _re2_class(ranges) -> str:
  """An RE2 bracket expression matching code points in inclusive `ranges`."""
  parts = []
  for first, last in ranges:
    parts.append(f"\\x{{{first:X}}}" if first == last
                 else f"\\x{{{first:X}}}-\\x{{{last:X}}}")
  return "[" + "".join(parts) + "]"


@functools.lru_cache(maxsize=None)
def _category_runs() -> List[Tuple[int, int]]:
  """Inclusive code point ranges (no surrogates) of one category each.

  ASCII characters and U+FFFD get a range of their own, as the algorithm
  treats some of them apart from their category.
  """
  def key(cp):
    return cp if cp < 0x80 or cp == 0xFFFD else unicodedata.category(chr(cp))

  code_points = itertools.chain(range(_SURROGATES.start),
                                range(_SURROGATES.stop, 0x110000))
  runs = []
  for _, run in itertools.groupby(code_points, key=key):
    run = list(run)
    runs.append((run[0], run[-1]))
  return runs


def _ranges_where(predicate) -> List[Tuple[int, int]]:
  """Merged inclusive code point ranges of the characters where `predicate`."""
  ranges = []
  for first, last in _category_runs():
    if not predicate(chr(first)):
      continue
    if ranges and ranges[-1][1] + 1 == first:
      ranges[-1] = (ranges[-1][0], last)
    else:
      ranges.append((first, last))
  return ranges


def is_dropped(char: str) -> bool:
  """Step 2: cleaning removes the character (U+FFFD, C* but tab, LF, CR)."""
  return (char == "\ufffd" or (unicodedata.category(char).startswith("C")
                               and char not in "\t\n\r"))


def is_space(char: str) -> bool:
  """Step 2: cleaning maps the character to a space."""
  return (char in "\t\n\r\u2028\u2029" or
          unicodedata.category(char) == "Zs")


def is_cjk(char: str) -> bool:
  """Step 3: a CJK ideograph, a word of its own."""
  return any(a <= ord(char) <= b for a, b in CJK_RANGES)


def is_nonspacing(char: str) -> bool:
  """Step 4: a mark (category Mn) removed after NFD when lower-casing."""
  return unicodedata.category(char) == "Mn"


def is_punctuation(char: str) -> bool:
  """Step 5: split off as a word of its own."""
  cp = ord(char)
  return (any(a <= cp <= b for a, b in _ASCII_PUNCTUATION_RANGES) or
          unicodedata.category(char).startswith("P"))


@functools.lru_cache(maxsize=None)
def character_classes() -> _CharacterClasses:
  """The classes of every step, from this Python's `unicodedata` (cached)."""
  return _CharacterClasses(
      dropped=_re2_class(_ranges_where(is_dropped)),
      space=_re2_class(_ranges_where(is_space)),
      cjk=_re2_class(sorted(CJK_RANGES)),
      nonspacing=_re2_class(_ranges_where(is_nonspacing)),
      punctuation=_re2_class(_ranges_where(is_punctuation)))


class FullTokenizer(tf.Module):
  """Text to WordPiece ids, as the original BERT `FullTokenizer`, in-graph.

  Attributes:
    vocab: the tokens, in id order.
    vocab_size: number of tokens.
    do_lower_case: True for uncased models (BlueBERT).
    cls_id, sep_id, pad_id, unk_id: ids of [CLS], [SEP], [PAD], [UNK].
  """

  def __init__(self, vocab_file: str, do_lower_case: bool = True):
    """Reads the vocab and builds the lookup table.

    Args:
      vocab_file: path of `vocab.txt` (see `load_vocab`).
      do_lower_case: lower-case and strip accents (uncased models).

    Raises:
      DataError: the vocab file cannot be used.
    """
    super().__init__(name="full_tokenizer")
    vocab = load_vocab(vocab_file)
    self._vocab = tuple(vocab)
    self.do_lower_case = do_lower_case
    ids = {token: i for i, token in enumerate(vocab)}
    self.cls_id, self.sep_id = ids["[CLS]"], ids["[SEP]"]
    self.pad_id, self.unk_id = ids["[PAD]"], ids[UNK_TOKEN]
    self._classes = character_classes()
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocab, tf.string),
            tf.range(len(vocab), dtype=tf.int64)),
        default_value=-1)
    # Pieces longer than the longest token cannot match: a safe search bound.
    self._wordpiece = tf_text.WordpieceTokenizer(
        table, suffix_indicator="##",
        max_bytes_per_word=4 * MAX_CHARS_PER_WORD,
        max_chars_per_token=max(len(token) for token in vocab),
        token_out_type=tf.int32, unknown_token=UNK_TOKEN,
        split_unknown_characters=False)

  @property
  def vocab(self) -> List[str]:
    return list(self._vocab)

  @property
  def vocab_size(self) -> int:
    return len(self._vocab)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
    """WordPiece ids of each text.

    Args:
      texts: string Tensor [B] of raw UTF-8 texts.

    Returns:
      int32 RaggedTensor [B, (T)] of WordPiece ids.
    """
    words = self.basic_tokenize(texts)
    too_long = tf.strings.length(words.flat_values,
                                 unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
    words = words.with_flat_values(
        tf.where(too_long, UNK_TOKEN, words.flat_values))
    return self._wordpiece.tokenize(words).merge_dims(1, 2)

  def basic_tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
    """The original `BasicTokenizer`: cleaning, lower-casing, splitting.

    Args:
      texts: string Tensor [B] of raw UTF-8 texts.

    Returns:
      string RaggedTensor [B, (W)] of words, before WordPiece.
    """
    classes = self._classes
    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8",
                                         errors="ignore")
    texts = tf.strings.regex_replace(texts, classes.dropped, "")
    texts = tf.strings.regex_replace(texts, classes.space, " ")
    texts = tf.strings.regex_replace(texts, f"({classes.cjk})", r" \1 ")
    if self.do_lower_case:
      texts = tf.strings.lower(texts, encoding="utf-8")
      texts = tf_text.normalize_utf8(texts, "NFD")
      texts = tf.strings.regex_replace(texts, classes.nonspacing, "")
    return tf_text.regex_split(
        texts, delim_regex_pattern=f" +|{classes.punctuation}",
        keep_delim_regex_pattern=classes.punctuation)

  def tokenize_to_strings(self, texts: Sequence[str]) -> List[List[str]]:
    """WordPiece strings of each text (eager convenience).

    Args:
      texts: the raw texts.

    Returns:
      one list of WordPiece tokens per text.
    """
    ids = self.tokenize(tf.constant(list(texts), tf.string)).to_list()
    return [self.convert_ids_to_tokens(row) for row in ids]

  def convert_ids_to_tokens(self, ids) -> List[str]:
    """Tokens of a flat sequence (list, array or 1-D Tensor) of int ids."""
    if isinstance(ids, (tf.Tensor, tf.Variable)):
      ids = ids.numpy()
    return [self._vocab[int(i)] for i in ids]
