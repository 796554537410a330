"""Pure-Python reference of the original BERT `FullTokenizer`, for tests only.

Written from the algorithm of google-research/bert `tokenization.py`
(BasicTokenizer + WordpieceTokenizer), one character at a time with
`unicodedata` and `str` methods, no TensorFlow, so that the in-graph tokenizer
can be checked against it.
"""

import unicodedata
from typing import Dict, List, Union

MAX_CHARS_PER_WORD = 200
CJK_BLOCKS = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
              (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
              (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_punctuation(char: str) -> bool:
  """Non-alphanumeric printable ASCII, or any category P* character."""
  cp = ord(char)
  if cp < 0x80:  # every ASCII P* character is inside these ranges
    return (33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or
            123 <= cp <= 126)
  return unicodedata.category(char).startswith("P")


def is_cjk(char: str) -> bool:
  """A CJK ideograph of one of BERT's eight blocks."""
  cp = ord(char)
  return cp >= 0x3400 and any(a <= cp <= b for a, b in CJK_BLOCKS)


def clean(text: str) -> str:
  """Drops NUL, U+FFFD and category C* characters other than tab, LF and CR;
  maps tab, LF, CR and category Zs characters to ' '."""
  out = []
  for char in text:
    category = unicodedata.category(char)
    if char in "\t\n\r" or category == "Zs":
      out.append(" ")
    elif char not in "\x00\ufffd" and not category.startswith("C"):
      out.append(char)
  return "".join(out)


def space_cjk(text: str) -> str:
  """Puts a space on each side of every CJK ideograph."""
  return "".join(f" {c} " if is_cjk(c) else c for c in text)


def strip_accents(word: str) -> str:
  """NFD, then drops the nonspacing marks (category Mn)."""
  if word.isascii():  # no decomposition, no mark: a shortcut, same result
    return word
  return "".join(c for c in unicodedata.normalize("NFD", word)
                 if unicodedata.category(c) != "Mn")


def split_punctuation(word: str) -> List[str]:
  """Splits `word` so that every punctuation character is a word of its own."""
  pieces, current = [], []
  for char in word:
    if is_punctuation(char):
      if current:
        pieces.append("".join(current))
        current = []
      pieces.append(char)
    else:
      current.append(char)
  if current:
    pieces.append("".join(current))
  return pieces


def basic_tokenize(text: Union[str, bytes], do_lower_case: bool) -> List[str]:
  """The original BasicTokenizer: raw text to words."""
  if isinstance(text, bytes):
    text = text.decode("utf-8", "ignore")
  text = space_cjk(clean(text))
  words = []
  for word in text.split():
    if do_lower_case:
      word = strip_accents(word.lower())
    words.extend(split_punctuation(word))
  return words


def wordpiece(word: str, vocab: Dict[str, int]) -> List[str]:
  """Greedy longest-match-first pieces of one word, or ['[UNK]']."""
  if len(word) > MAX_CHARS_PER_WORD:
    return ["[UNK]"]
  pieces, start = [], 0
  while start < len(word):
    for end in range(len(word), start, -1):
      piece = word[start:end] if start == 0 else "##" + word[start:end]
      if piece in vocab:
        pieces.append(piece)
        start = end
        break
    else:
      return ["[UNK]"]
  return pieces


class ReferenceTokenizer:
  """FullTokenizer: BasicTokenizer then WordPiece, returning token strings."""

  def __init__(self, vocab: List[str], do_lower_case: bool = True):
    self.ids = {token: i for i, token in enumerate(vocab)}
    self.do_lower_case = do_lower_case

  def tokenize(self, text: Union[str, bytes]) -> List[str]:
    """WordPiece tokens of one raw text."""
    return [piece
            for word in basic_tokenize(text, self.do_lower_case)
            for piece in wordpiece(word, self.ids)]

  def tokenize_to_ids(self, text: Union[str, bytes]) -> List[int]:
    """WordPiece ids of one raw text."""
    return [self.ids[piece] for piece in self.tokenize(text)]
